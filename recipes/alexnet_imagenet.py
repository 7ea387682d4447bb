"""AlexNet on an ImageNet-style image folder (Krizhevsky, Sutskever & Hinton, NIPS 2012).

    python recipes/alexnet_imagenet.py --data-dir /data/imagenet   # train/ and val/ inside

The paper's settings: images resized to 256x256, random 227x227 crops (the network's
arithmetic; the paper says 224) with horizontal reflections and PCA colour augmentation
(alpha ~ N(0, 0.1) along the RGB principal components), mean RGB subtracted; SGD with
momentum 0.9 and weight decay 0.0005 inside the momentum update
(``kcnn.optimizers.AlexNetSGD``; the weights only, not the biases, as cuda-convnet and
BVLC's prototxt), batch 128, learning rate 0.01 divided by 10 when the validation accuracy
stops improving (three times), about 90 epochs. Tested on val with the ten-crop average
(four corners, the centre and their mirrors); ``--eval-protocol center`` uses the centre
crop. Top-1 and top-5 accuracy are reported.
"""

import sys

from kcnn.training.imagenet import image_folder_recipe

RECIPE = image_folder_recipe(
    "alexnet_imagenet",
    model="alexnet",
    preset="alexnet",
    description=__doc__.split("\n\n")[0],
    image_size=227,
    resize=256,
    eval_protocol="ten_crop",
    pca_color=True,
    smoke_model_kwargs={"filters": [8, 8, 8, 8, 8], "fc_units": 16},
    smoke_image_size=67,
    smoke_resize=72,
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
