"""ResNet (18, 34, 50, 101 or 152 layers) on an ImageNet-style image folder (He et al., CVPR 2016).

    python recipes/resnet_imagenet.py --data-dir /data/imagenet --model resnet50

The paper's settings (section 3.4): batch 256, SGD with momentum 0.9 and weight decay 1e-4
(coupled; kernels only, not BatchNorm's gamma and beta), learning rate 0.1 divided by 10
when the validation accuracy plateaus, 60e4 iterations (about 120 epochs), batch
normalization, no dropout; random 224x224 crops with horizontal flips (here from images
resized to 256 rather than the paper's scale augmentation with the shorter side in [256,
480]), mean RGB subtracted. Tested on the centre crop of val (``--eval-protocol ten_crop``:
the paper's 10-crop testing); top-1 and top-5 accuracy are reported.
"""

import sys

from kcnn.training.imagenet import image_folder_recipe

RECIPE = image_folder_recipe(
    "resnet_imagenet",
    model="resnet50",
    preset="resnet_imagenet",
    description=__doc__.split("\n\n")[0],
    image_size=224,
    resize=256,
    smoke_model_kwargs={"stackwise_num_filters": [4, 4, 8, 8],
                        "stackwise_num_blocks": [1, 1, 1, 1]},
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
