namespace Acwa.Onnx.Data;

/// <summary>Dataset families a <see cref="DatasetSpec"/> can name.</summary>
public enum DatasetKind
{
    /// <summary>Fashion-MNIST from the Debian package (<c>fashion-mnist[:DIR]</c>).</summary>
    FashionMnist,

    /// <summary>CIFAR-10 binary batches (<c>cifar10:DIR</c>).</summary>
    Cifar10,

    /// <summary>ISIC-2018 task 3 JPEGs + ground-truth CSV (<c>isic2018:DIR</c>).</summary>
    Isic2018,

    /// <summary>Any IDX image/label file pair(s) (<c>idx:TRAIN_IMAGES,TRAIN_LABELS[,TEST_IMAGES,TEST_LABELS]</c>).</summary>
    Idx,

    /// <summary>A folder of images with one subfolder per class (<c>folder:DIR</c>; see <see cref="ImageFolderReader"/>).</summary>
    ImageFolder,

    /// <summary>
    /// Samples in .npy files (<c>npy:X.npy,Y.npy[,XTEST.npy,YTEST.npy]</c>): uint8 images, float features or sequences, or
    /// int64 token ids (<see cref="NpyData"/>). Not loaded by <see cref="DatasetSpec.Load"/>, which gives images only.
    /// </summary>
    Npy,
}
