"""Datasets as uint8 tensors held on the device, split, normalised and augmented a whole batch at a time.

One module per concept, imported by their own names (this file imports nothing, so ``poolbench.config.catalog``
stays free of torch for the config check):

- ``catalog``: the dataset kinds, their known split sizes and the keys each kind needs (no torch);
- ``raw``: ``RawDataset`` (whole train/test splits on the CPU) and ``load_raw``, which picks a source by kind
  and keeps what it loaded for the process (preflight loads a dataset once; the run in the same process
  reuses it, and says so in its log);
- ``idx`` (FashionMNIST's IDX files), ``cifar`` (CIFAR-10/100's pickled batches), ``synthetic``: the sources;
- ``torchvision_sets``: MNIST, KMNIST, CIFAR-10/100, SVHN, STL-10 as torchvision lays them out (local files,
  archive, download; published MD5s), read by ``formats`` (IDX folders, SVHN's .mat, STL-10's binaries);
- ``image_folder``: a user's own images (ImageFolder layout), decoded once into ``cache`` (uint8 tensors on
  disk, keyed by the folder's content); ``stats``: per-channel mean/std of a train split (``dataset.mean=null``);
- ``splits``: the fixed validation carve-out, ``ImageSplit``, ``DataBundle`` and ``prepare_data``;
- ``batches``: batch augmentation (crop by pad-and-shift, flips), the translation test's shifts, and
  ``epoch_batches``.
- ``memo``: the translation test's shifted and the other-size test's resized test images, made once per
  process for the same images.
"""
