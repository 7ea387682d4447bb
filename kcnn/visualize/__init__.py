"""Seeing inside the networks: filters, feature maps, attributions, architecture pictures.

    >>> from kcnn import visualize
    >>> visualize.filters(model, path="filters.png")            # first-layer kernels
    >>> visualize.activations(model, image, path="maps.png")    # one layer per stage
    >>> visualize.grad_cam(model, images)                       # (n, h, w) heat in [0, 1]
    >>> visualize.attributions(model, images, methods=("grad_cam", "smooth_grad"),
    ...                        path="why.png")
    >>> visualize.diagram("googlenet", "googlenet.svg")         # blocks and output shapes

Feature maps come from ``kcnn.feature_extractor`` and layer shapes from ``kcnn.summary``;
pictures are drawn with matplotlib (no Graphviz) and written atomically.
"""

from kcnn.visualize.activations import activations, default_layers, feature_maps
from kcnn.visualize.attribution import (METHODS, attributions, class_scores, default_cam_layer,
                                        grad_cam, occlusion, overlay, saliency, smooth_grad)
from kcnn.visualize.diagram import Box, diagram, diagram_boxes
from kcnn.visualize.filters import conv_layers, filters, first_conv_layer, kernel

__all__ = ["activations", "default_layers", "feature_maps", "METHODS", "attributions",
           "class_scores", "default_cam_layer", "grad_cam", "occlusion", "overlay", "saliency",
           "smooth_grad", "Box", "diagram", "diagram_boxes", "conv_layers", "filters",
           "first_conv_layer", "kernel"]
