"""GoogLeNet with its auxiliary classifiers on ImageNet-style folders (Szegedy et al., 2015).

    python recipes/googlenet_imagenet.py --data-dir /data/imagenet

The paper's settings (section 6): the auxiliary classifiers' losses added with weight 0.3
(discarded at inference), SGD with momentum 0.9, the learning rate decreased by 4% every 8
epochs; the initial rate 0.01, batch 32, weight decay 2e-4 and 250 epochs are BVLC Caffe's
``bvlc_googlenet`` solver, which the paper leaves open. Random 224x224 crops with flips from
images resized to 256 (the paper's photometric distortions and aspect-ratio sampling are not
reproduced), mean RGB subtracted. Tested on the centre crop of val; top-1 and top-5
accuracy of the main classifier are reported.
"""

import sys

from kcnn.training.imagenet import image_folder_recipe

RECIPE = image_folder_recipe(
    "googlenet_imagenet",
    model="googlenet",
    preset="googlenet",
    description=__doc__.split("\n\n")[0],
    image_size=224,
    resize=256,
    aux_outputs=3,
    smoke_model_kwargs={"width_multiplier": 0.125},
    smoke_image_size=65,
    smoke_resize=72,
)


def main(argv=None):
    return RECIPE.main(argv)


if __name__ == "__main__":
    sys.exit(main())
