"""VGG-16 (configuration D) on an ImageNet-style image folder (Simonyan & Zisserman, ICLR 2015).

    python recipes/vgg_imagenet.py --data-dir /data/imagenet    # --model vgg11/13/19 too

The paper's settings (section 3.1): 224x224 random crops with horizontal flips from rescaled
images (here a fixed side of 256, the paper's single-scale S = 256), mean RGB subtracted;
SGD with momentum 0.9, batch 256, weight decay 5e-4 (coupled, kernels only), dropout 0.5 in
fc1 and fc2, learning rate 0.01 divided by 10 when the validation accuracy stops improving
(three times), 74 epochs. Tested on the centre crop of val (``--eval-protocol ten_crop`` for
multi-crop averaging); top-1 and top-5 accuracy are reported.
"""

import sys

from kcnn.training.imagenet import image_folder_recipe

RECIPE = image_folder_recipe(
    "vgg_imagenet",
    model="vgg16",
    preset="vgg",
    description=__doc__.split("\n\n")[0],
    image_size=224,
    resize=256,
    smoke_model_kwargs={"filters": [4, 4, 8, 8, 8], "fc_units": 16},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
