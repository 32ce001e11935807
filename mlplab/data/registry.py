"""What each dataset is, where its files live and come from, and their checksums.

The registry is data, not code: :data:`REGISTRY` maps a dataset name to a :class:`DatasetSpec`.
Tests swap entries (``monkeypatch.setitem(REGISTRY, "mnist", spec)``) to serve small synthetic
files with their own checksums.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FileSpec", "ArchiveSpec", "DatasetSpec", "REGISTRY", "get_spec", "AREM_ACTIVITIES",
           "AREM_CLASSES", "AREM_FILES", "CIFAR10_CLASSES", "MNIST_CLASSES", "FASHION_MNIST_CLASSES"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its path inside ``data_home`` (POSIX, e.g. ``"mnist/t10k-labels-idx1-ubyte.gz"``),
    its SHA-256 and size in bytes (None when not known in advance), and whether loading needs it."""

    path: str
    sha256: str | None
    size: int | None = None
    required: bool = True


@dataclass(frozen=True)
class ArchiveSpec:
    """An archive that holds a dataset's files: its URL, its name in the cache and its hash in
    pooch's notation (``"sha256:..."`` or ``"md5:..."``; None when no digest is published)."""

    url: str
    fname: str
    known_hash: str | None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything known about a dataset before any file is read.

    ``files`` are checked (SHA-256) on every load. ``base_url`` is where the files in ``files`` are
    downloaded from, one by one: ``<base_url>/<file name>``; ``archive`` instead names one archive
    that holds them (CIFAR-10, AReM). ``folder`` is the dataset's folder inside ``data_home``.
    """

    name: str
    title: str
    folder: str | None
    files: tuple[FileSpec, ...] = ()
    base_url: str | None = None
    archive: ArchiveSpec | None = None
    n_train: int | None = None
    n_test: int | None = None
    class_names: tuple[str, ...] = ()
    image_shape: tuple[int, ...] | None = None
    description: str = ""
    source: str = ""
    citation: str = ""
    license: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def size_bytes(self) -> int | None:
        """Bytes of the required files on disk, when every size is known."""
        sizes = [f.size for f in self.files if f.required]
        return None if not sizes or None in sizes else sum(sizes)


MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: The seven activity folders of AReM, in the order used for rows and recordings.
AREM_ACTIVITIES = ("bending1", "bending2", "cycling", "lying", "sitting", "standing", "walking")
#: The six AReM classes: bending1 and bending2 are one class ``bending``.
AREM_CLASSES = ("bending", "cycling", "lying", "sitting", "standing", "walking")

# SHA-256, size in bytes and path inside arem/ of the 88 original AReM recordings and the two PDFs,
# as listed in shared/data/README.md (the original files, quirks included).
_AREM_TABLE = """
8904d33485a6d59700c9f6bd5a9cf397b3d124df6dbe14ed71b9ba42f874999b  18964 bending1/dataset1.csv
b08ba1ed3eb4e098de5ad2c9d6988c17b2aa5aab0f518348e2fe64c8cb666cb4  19389 bending1/dataset2.csv
e1fb27b2b0a01365f2d7c2af81829eed18705fcddf67b07680afd24394dfef55  18925 bending1/dataset3.csv
f13497de5d9fd8c0f6eef86b9eff0f0333882698dae2278d8beb772bc6bdd672  18923 bending1/dataset4.csv
0ea79bd9f6badaa93179cde96698153c2101be2d57de1d1212f86a474f6a590a  18918 bending1/dataset5.csv
3420da200248b0ad59b3e086994ef63e874fbec017343f4a18496d57da15e865  18911 bending1/dataset6.csv
2362ebf18d4f7e2cf8fbf2b8da68f38ac25a7f25370b8d13d35e3cf67ce97d95  18896 bending1/dataset7.csv
71d361b0370317624dc217241543271930135171661fa32e9af6e9a112b83cda  18901 bending2/dataset1.csv
70e2c734adb9536737c8bdf17ae484378fb97d2963774968b632def9130c089c  18884 bending2/dataset2.csv
020b9d40b3b188f40abaefbe9f533e20733016ce446470f97fb500c39290a7dc  18799 bending2/dataset3.csv
5c9bf79ad424b05576412cd90ba57bd05429e1655d7cd080db2a7a3391777f3a  19595 bending2/dataset4.csv
4390d3b1b9871d2890552a4c976dd316bc3f3ac200dd9acface7ad699c7a45af  18782 bending2/dataset5.csv
7deb509bde5d26ec1e29e9ba598c3b5fec51ec8b63e16374d3ea0f6506b1a6ce  18725 bending2/dataset6.csv
9be2c25853f1317d10889029d816cf19b4372cd8bc27f4c58197ce5c286153c2  21207 bendingType.pdf
c899afd76c26483f91e024f2de7d97accd277e7d8bcd311aacefeb02274b36b5  18911 cycling/dataset1.csv
39686b3870831c5da90077091c5e0cdeca1d0a0d8209d8d35952ae85fb13fbfd  18904 cycling/dataset2.csv
9e63e35d77bd81e2904600724ade1b651d2bfc31be86a5b5cc8cc3ae83d19490  18904 cycling/dataset3.csv
07c6833c6bbea07c633f0a387dc15a606576b81cef1a10c92d899697bdde3a55  18894 cycling/dataset4.csv
4c1bfd7b5c9128fa6b1b490b47d6818fb20e2e9816556166225d0ed3d04a6e22  18912 cycling/dataset5.csv
de344123cfca28d03b0103eccef4ddb41746a0e539f7e983eecfa944a5062ffa  18911 cycling/dataset6.csv
b1ee6658fae2174782b6e0608cc4f6d51a826586d29cb71f29741a26f331726f  18915 cycling/dataset7.csv
c4ccfc7c2af10a8cca582dc7340e879648e1b985572ffb923c2ca742855db460  18900 cycling/dataset8.csv
23b73d85360d83cb659dcbf5f967d0428dea384a0f70800f97c0712392ba2768  18900 cycling/dataset9.csv
37bbe09516984e2d53d17f9df5c26d89c3792b7c0d2245712eb64593f8d7d778  18899 cycling/dataset10.csv
e64a2b2b63b47d6bd448d8cb9be5591329c2acb548a7cb84316d0f168ae48942  18906 cycling/dataset11.csv
4e7d56d536cf92d09a753ccb5a3cb8d264d6549f31f4c8067464f4d4ac813994  18893 cycling/dataset12.csv
837d31a73a26507f8cdc744106e4685a9d3b83218f36c91ec7dfa86275b37ac6  18920 cycling/dataset13.csv
e5959495da2aef23af3d0711511294f09d7666972d060d4e03864f7a37097d14  18919 cycling/dataset14.csv
c899afd76c26483f91e024f2de7d97accd277e7d8bcd311aacefeb02274b36b5  18911 cycling/dataset15.csv
8347afc7b092a3aed8f481fde2c8ff1417186e0e0cceff78e9dc7ef49b11efeb  18213 lying/dataset1.csv
43cc5120505c90b7fd7938bf242f55296e5eeee5aa7d1fa0a0283605b51c6336  18047 lying/dataset2.csv
06c8167c49c59ed7b74372fff480de4fd0b00984aa64c95f4a09acd3abe30d01  18129 lying/dataset3.csv
d19fd713a01514f262a89cf53c2bf25c12cbd241f1e376dd67be271b4cf879de  18354 lying/dataset4.csv
8530fdf2ad6e8b2630189152e5d199bf6e03f8d60f3e2ca0985907ec764373d2  18437 lying/dataset5.csv
32cae2376611128314bd377072ab2f39986ee45b2759e0a02027afff70222fc0  18400 lying/dataset6.csv
fdd2284356c94199006c58ef8e381c4cf6661d720098b60e084d8fd1c80e98d5  18366 lying/dataset7.csv
6b3af9e652c1e5489183d287307b84d076f6dbb546dfbdf74b3a0a1bdf4d67fb  18428 lying/dataset8.csv
a375c67e922458d3b37f73595b82f7ff3fea6b052618c3f09e2e7ec1867de86d  18655 lying/dataset9.csv
67d06c30040e2895fc21cb99f8854a3fcee3f2ce8d8f9fbba3e2f2f49c2bf54e  18213 lying/dataset10.csv
06c8167c49c59ed7b74372fff480de4fd0b00984aa64c95f4a09acd3abe30d01  18129 lying/dataset11.csv
8530fdf2ad6e8b2630189152e5d199bf6e03f8d60f3e2ca0985907ec764373d2  18437 lying/dataset12.csv
fdd2284356c94199006c58ef8e381c4cf6661d720098b60e084d8fd1c80e98d5  18366 lying/dataset13.csv
a375c67e922458d3b37f73595b82f7ff3fea6b052618c3f09e2e7ec1867de86d  18655 lying/dataset14.csv
8347afc7b092a3aed8f481fde2c8ff1417186e0e0cceff78e9dc7ef49b11efeb  18213 lying/dataset15.csv
cb6d529695b7f4acf6ff48164f142473b384cbaa46faca3789f07b4bd4e03b98 105307 sensorsPlacement.pdf
8ab213c9d670bf76fd460f2b839d36b4eddb52a68f90fc4e47b3c024e193a3f0  18802 sitting/dataset1.csv
23fa1735bdfea5eb436396853d57a496b31e65c7de43d7adcc2e528eac11d18b  18847 sitting/dataset2.csv
10e6288510104757de8e6fa20d3c7113408a014c15c4418a903146ce2db0538d  18813 sitting/dataset3.csv
538d0feac43a721a8805e87c5baa5e890ff7e33567664a8369c6834a15a19c78  18888 sitting/dataset4.csv
c27ad4e702136d7b6b0f2f9ead8c021ba87ebd7a8e510ceeb800feb46d945f9d  18807 sitting/dataset5.csv
a9bd0156633c15a00f14acb9a446fe37025b1f509f0dbb6030b865521e21c232  18827 sitting/dataset6.csv
50ce21f504df72632be282a936ad42cd6ec71df8be0968eecb56f598327e946d  18829 sitting/dataset7.csv
a551a654418ffe478e7b16b7499ef6aa155d8411ddf5c60d8c09c0667af19a02  18811 sitting/dataset8.csv
8a0c913e5d409f614656d90b59515c50f8c28d2c4fded47fbcadfc9e43aab45d  18853 sitting/dataset9.csv
cdc132040ddab5baf69501c4de0811bb23b2c8fcfb391e2b6c1bcb8cda7be3c9  18760 sitting/dataset10.csv
893a577f948de9bcc619118b7e0f1bf3c40b4a4e9afe99807a3c2eb0b721b168  18734 sitting/dataset11.csv
781aa68ab437c6ba2b01beabaa012104a49f20e9abe4c75c1c3798735203c661  18645 sitting/dataset12.csv
d31c5e51f366045e7385186e167162ae9a934f6152d38069b1e6c8c63797bab2  18501 sitting/dataset13.csv
a83212bf14a26f4bed295ab5ce6159a703afa2e23b481a74abb3e2901114224e  18712 sitting/dataset14.csv
702b4d228d64bf2b5d6bb751faaa2fd9005ae346695c9dd3953cd74987e7a6aa  18828 sitting/dataset15.csv
06deb797467d78b110863014d2c2aa7f4b7c5f20132ca6064a3215ffc00aeb69  18669 standing/dataset1.csv
c35511b44319698c31ac0ac7cd33e43a66480ce1a64ddfd7ab6a74d2eae39b4c  18801 standing/dataset2.csv
7939028d2deca060065bc95468c8e4b230ca53edd7a871a3f4ce55f06354d13b  18833 standing/dataset3.csv
0886e3b98b5f1532b302316204208820e74789437ed5a727c2512d9d85a3a63a  18816 standing/dataset4.csv
1ea9e1987512de077c51179cf67c899103dd0e440076d397aa7c3698baaa76cd  18837 standing/dataset5.csv
729d0e60a536d5b141bf1107130a588033003e89e5ed015d5ffd14a029e1061b  18881 standing/dataset6.csv
0424292d6c3699ae25c8a5f03f2843b86b893c36517f42c41cd000f7491fe5ea  18823 standing/dataset7.csv
f12385c47aa08d9d64189a1fcc8f3a67d17fab1cd9761fcc5fe37a2dd5496c20  18839 standing/dataset8.csv
07570b68058be3b7e1e47e3252eab253ec0d6d2d9a0519fa0a4fa2b58e178897  18836 standing/dataset9.csv
c9bad282c934a761176d333e7587b8906891d643e6637d9e5d944409b91206f6  18667 standing/dataset10.csv
5f90b296cb6a1f047643f3e4659d0d1446e474cca2b01b93e8f9238d71d7611c  18749 standing/dataset11.csv
7230ec593e8e7460365a9fde4134bd320e938954e539d92038b3046f73acfd11  18818 standing/dataset12.csv
ecd8b592bb0f514c0f8a23a848fc74fa2c84bbb26d6df1cec03834818833ec08  18810 standing/dataset13.csv
2ea3ec500b19b32b01d77f022197ac8433122b911e36be2c9a39d94e36b32788  18810 standing/dataset14.csv
0daf65b32ec69b6b3e23236551c256db91b3fb9e0fe98788a54d001da4a7c63c  18787 standing/dataset15.csv
b6f9fee4f2b2f9c9cca7a6de78f87a12319dd8d41c44b19685f9a84b179cc24f  18912 walking/dataset1.csv
d17872c2ffad964e6cbe99c16cb71eb157f1cf234a97c764eb15b5bffa595df6  18909 walking/dataset2.csv
ed0d0b8e9623643881654a9000538a084d22da8f6ee5999b73b68bdf147c0732  18904 walking/dataset3.csv
fcdd1c7ce76fb2a3c210245d01a3d940876268ec062d675a1efd952b58fe5b87  18903 walking/dataset4.csv
0511e5c280a6f5403e0debcdbca7a1f6eed79c3a7b0a45136861c035ea9520e6  18903 walking/dataset5.csv
b6a941317d14b63a530a56ce96b463d5462fec36914e4ce003f7e03a1c1548e2  18902 walking/dataset6.csv
135dc5409e8db41d65bbcc15da51dc6d9db3a6432ce4e915473fac159f489283  18920 walking/dataset7.csv
0a0c193fbe82fa2b0a6265390ab1b8f18a367f77591bf1ce6a2c2346f3bd58e7  18911 walking/dataset8.csv
26bfb77ac8262e96c9b98aa42e3dadbe49495aa1db6910f9c4b68e17eaa00a43  18909 walking/dataset9.csv
82dab5ca50b308a8d9dce992a0f8f69d3211b89a3763effdb2407920723c34bc  18895 walking/dataset10.csv
37e951b2100062bd6b5d9a37ea07134144ad014c0df70cb50aa9d2f146bcb613  18896 walking/dataset11.csv
40deb90480a093a100897df6cea0c07fff57b112e41920f70914b712903387bf  18911 walking/dataset12.csv
c4c2ebb409f8998fa509fd8f794309f8915aa478f9c17c628d8f65133539065d  18907 walking/dataset13.csv
e544f5ca501f3dbd7403813f09c750b0a26bc45e54d3261595f621c04e28489e  18910 walking/dataset14.csv
da3fc7dfd4c1bdaa0ce75c264ab1d677b9326a410f47b3e356da674d6b1c2891  18898 walking/dataset15.csv
"""


def _arem_files() -> tuple[FileSpec, ...]:
    out = []
    for line in _AREM_TABLE.split("\n"):
        if line.strip():
            digest, size, path = line.split()
            out.append(FileSpec("arem/" + path, digest, int(size), required=path.endswith(".csv")))
    def key(f: FileSpec):
        parts = f.path.split("/")
        if len(parts) != 3:  # the PDFs, after the recordings
            return (1, 0, 0, f.path)
        number = int(parts[2].removeprefix("dataset").removesuffix(".csv"))
        return (0, AREM_ACTIVITIES.index(parts[1]), number, f.path)

    return tuple(sorted(out, key=key))


#: The AReM files (88 CSV recordings, then 2 optional PDFs), in activity and recording-number order.
AREM_FILES = _arem_files()


def _idx_files(folder: str, digests: dict[str, tuple[str, int]]) -> tuple[FileSpec, ...]:
    return tuple(FileSpec(f"{folder}/{name}", sha, size) for name, (sha, size) in digests.items())


REGISTRY: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(
        name="digits", title="UCI optical handwritten digits (8x8, bundled with scikit-learn)", folder=None,
        n_train=None, n_test=None, class_names=MNIST_CLASSES, image_shape=(8, 8),
        description="1797 grey-scale 8x8 images of handwritten digits with values 0..16, 10 classes; "
                    "no official train/test split (load() makes a seeded stratified one).",
        source="scikit-learn sklearn.datasets.load_digits (UCI ML hand-written digits)",
        citation="E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten Digits. UCI ML Repository, 1998.",
        license="CC BY 4.0 (UCI)",
    ),
    "mnist": DatasetSpec(
        name="mnist", title="MNIST handwritten digits", folder="mnist",
        files=_idx_files("mnist", {
            "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
            "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
            "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
            "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        }),
        # yann.lecun.com refuses scripted downloads; this is the mirror torchvision uses (same bytes).
        base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        n_train=60000, n_test=10000, class_names=MNIST_CLASSES, image_shape=(28, 28),
        description="70000 grey-scale 28x28 images of handwritten digits (pixel values 0..255), 10 classes; "
                    "official split of 60000 training and 10000 test images.",
        source="http://yann.lecun.com/exdb/mnist/ (downloaded from the mirror "
               "https://ossci-datasets.s3.amazonaws.com/mnist/)",
        citation="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to document "
                 "recognition. Proceedings of the IEEE 86(11):2278-2324, 1998.",
        license="none stated on the original page; often listed as CC BY-SA 3.0",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist", title="Fashion-MNIST (Zalando article images)", folder="fashion-mnist",
        files=_idx_files("fashion-mnist", {
            "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
            "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
            "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
            "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
        }),
        base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        n_train=60000, n_test=10000, class_names=FASHION_MNIST_CLASSES, image_shape=(28, 28),
        description="70000 grey-scale 28x28 images of Zalando articles (pixel values 0..255), 10 classes of "
                    "7000; official split of 60000 training and 10000 test images.",
        source="https://github.com/zalandoresearch/fashion-mnist",
        citation="H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine "
                 "Learning Algorithms. arXiv:1708.07747, 2017.",
        license="MIT (Copyright 2017 Zalando SE)",
    ),
    "cifar10": DatasetSpec(
        name="cifar10", title="CIFAR-10 (binary version)", folder="cifar10",
        # The extracted batches have no published SHA-256: they are checked against the digests
        # recorded when they were unpacked from the MD5-verified archive (see cache.py).
        files=tuple(FileSpec(f"cifar10/cifar-10-batches-bin/{n}", None, 30730000)
                    for n in ("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                              "data_batch_5.bin", "test_batch.bin"))
              + (FileSpec("cifar10/cifar-10-batches-bin/batches.meta.txt", None, None, required=False),),
        archive=ArchiveSpec("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "cifar-10-binary.tar.gz",
                            "md5:c32a1d4ab5d03f1284b67883e8d87530"),
        n_train=50000, n_test=10000, class_names=CIFAR10_CLASSES, image_shape=(3, 32, 32),
        description="60000 colour 32x32 images (RGB values 0..255), 10 classes of 6000; official split of "
                    "50000 training images (5 batches) and 10000 test images.",
        source="https://www.cs.toronto.edu/~kriz/cifar.html (binary version, cifar-10-binary.tar.gz)",
        citation="A. Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Technical report, "
                 "University of Toronto, 2009.",
        license="none stated; free to use with the citation above",
    ),
    "arem": DatasetSpec(
        name="arem", title="UCI AReM activity recognition (RSS of a wireless body network)", folder="arem",
        files=AREM_FILES,
        archive=ArchiveSpec("https://archive.ics.uci.edu/static/public/366/"
                            "activity+recognition+system+based+on+multisensor+data+fusion+arem.zip",
                            "arem.zip", None),
        n_train=None, n_test=None, class_names=AREM_CLASSES,
        description="88 recordings of 480 time steps (one has 479; 42239 rows) of 6 features (mean and variance "
                    "of the received signal strength between 3 body-worn sensors) for 7 activities; bending1 and "
                    "bending2 form the class 'bending', giving 6 classes.",
        source="https://archive.ics.uci.edu/dataset/366/activity+recognition+system+based+on+multisensor+data+fusion+arem",
        citation="F. Palumbo, C. Gallicchio, R. Pucci, A. Micheli. Human activity recognition using multisensor "
                 "data fusion based on Reservoir Computing. Journal of Ambient Intelligence and Smart "
                 "Environments 8(2):87-107, 2016.",
        license="CC BY 4.0 (UCI)",
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name`` (case-insensitive); ``ValueError`` listing the known names."""
    key = str(name).lower()
    if key not in REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[key]
