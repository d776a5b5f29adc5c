"""The sequence recipe encoders (model/recipe_encoders.py) and the recipe's lines
(model/recipe_lines.py): shapes, unit norms, ragged masking, saving."""

import json

import pytest
import torch

from model import Retriever, RetrieverConfig, load_pretrained, save_pretrained
from model.recipe_lines import RaggedLines, RecipeLines, split_lines, split_sentences
from tiny import tiny_config
from train.run_config import load_preset

SEQUENCE = ("lstm", "hierarchical")


def tiny_sequence_model(text_dir, kind: str, seed: int = 0, **overrides) -> Retriever:
    torch.manual_seed(seed)
    config = tiny_config(text_dir, recipe_encoder=kind, recipe_sequence_dim=16, **overrides)
    model = Retriever(config)
    # Untrained empty vectors are zeros: make them differ so a test can see which is used.
    with torch.no_grad():
        model.recipe_sequence.empty_ingredients.normal_()
        model.recipe_sequence.empty_steps.normal_()
    return model.eval()


def test_sentences_split_at_sentence_ends_not_at_abbreviations():
    method = ["Heat the oven. Add 1 tsp. salt and about 2 in. of water!\nStir well", "1.", "  ", "Serve? Yes."]
    assert split_sentences(method) == [
        "Heat the oven.",
        "Add 1 tsp. salt and about 2 in. of water!",
        "Stir well",
        "Serve?",
        "Yes.",
    ]
    lines, steps = split_lines([" 1 egg ", "", "2 cups flour", "--"], method, max_ingredients=1, max_steps=2)
    assert lines == ["1 egg"] and steps == ["Heat the oven.", "Add 1 tsp. salt and about 2 in. of water!"]


def test_ragged_lines_pad_each_row_to_the_longest_with_zeros():
    flat = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    lines = RaggedLines.from_counts(flat, torch.tensor([2, 0, 4]))
    padded, counts = lines.padded(torch.tensor([2, 1, 0]))
    assert counts.tolist() == [4, 0, 2]
    assert padded.shape == (3, 4, 2)
    assert torch.equal(padded[0], flat[2:6]) and padded[1].abs().sum() == 0
    assert torch.equal(padded[2, :2], flat[:2]) and padded[2, 2:].abs().sum() == 0
    empty, counts = lines.padded(torch.tensor([1]))
    assert empty.shape == (1, 1, 2) and counts.tolist() == [0], "an all-empty batch keeps one position"
    with pytest.raises(ValueError, match="add up"):
        RaggedLines.from_counts(flat, torch.tensor([1, 1]))


@pytest.mark.parametrize("kind", SEQUENCE)
def test_outputs_are_unit_vectors_and_empty_parts_stay_finite(text_backbone_dir, kind):
    model = tiny_sequence_model(text_backbone_dir, kind)
    ingredients = [["1 cup sugar", "2 eggs", "salt"], [], ["1 onion"], []]
    method = [["Mix the sugar. Bake for 5 minutes.", "Serve."], ["Boil the water."], [], []]
    with torch.no_grad():
        out = model.encode_recipe(ingredients, method, ["cake", "water", "onion", "nothing"])
    assert out.shape == (4, model.config.embed_dim)
    assert torch.isfinite(out).all()
    assert torch.allclose(out.norm(dim=-1), torch.ones(4), atol=1e-5)
    # The learned empty vectors are what a missing part reads: changing one moves only the
    # rows that lack that part.
    with torch.no_grad():
        model.recipe_sequence.empty_ingredients.add_(1.0)
        moved = model.encode_recipe(ingredients, method, ["cake", "water", "onion", "nothing"])
    changed = (moved - out).abs().amax(dim=1) > 1e-6
    assert changed.tolist() == [False, True, False, True]


@pytest.mark.parametrize("kind", SEQUENCE)
def test_padding_never_changes_a_recipes_vector(text_backbone_dir, kind):
    """A one-step recipe alone, and in a batch with a longer recipe (so it is padded), gives
    the same vector."""
    model = tiny_sequence_model(text_backbone_dir, kind)
    short = (["1 egg"], ["Boil the egg."], "egg")
    long = ([f"{n} cup rice" for n in range(1, 9)], [f"Stir the rice {n} times. Rest it." for n in range(6)], "rice")
    with torch.no_grad():
        alone = model.encode_recipe([short[0]], [short[1]], [short[2]])
        batch = model.encode_recipe([long[0], short[0]], [long[1], short[1]], [long[2], short[2]])
    assert torch.allclose(alone[0], batch[1], atol=1e-5)
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)


def test_title_only_rows_skip_the_transformer_and_change_nothing_else(text_backbone_dir):
    """The hierarchical encoder runs only the rows with lines (most rows are title-only):
    a recipe's vector is the same alone as beside line-less rows, and a batch with no
    lines at all still gives the transformer a gradient (DistributedDataParallel needs one)."""
    model = tiny_sequence_model(text_backbone_dir, "hierarchical")
    recipe = (["1 egg", "salt"], ["Boil the egg.", "Peel it."], "egg")
    with torch.no_grad():
        alone = model.encode_recipe([recipe[0]], [recipe[1]], [recipe[2]])
        mixed = model.encode_recipe([[], recipe[0], []], [[], recipe[1], []], ["tea", recipe[2], "toast"])
    assert torch.allclose(alone[0], mixed[1], atol=1e-5)
    encoder = model.recipe_sequence.ingredients
    lines = torch.randn(3, 4, encoder.project.in_features)
    out = encoder(lines, torch.tensor([0, 0, 0]))
    # Row 0 runs (reading its first padding position) only to carry a gradient; with_empty
    # replaces every one of these rows.
    assert torch.equal(out[1:], torch.zeros_like(out[1:]))
    out.sum().backward()
    assert encoder.project.weight.grad is not None


def test_hierarchical_steps_have_an_order_and_ingredients_do_not(text_backbone_dir):
    model = tiny_sequence_model(text_backbone_dir, "hierarchical")
    ingredients, method = ["1 egg", "2 cups flour", "salt"], ["Beat the egg.", "Fold in the flour.", "Bake it."]
    with torch.no_grad():
        plain = model.encode_recipe([ingredients], [method], ["bread"])
        shuffled_ingredients = model.encode_recipe([ingredients[::-1]], [method], ["bread"])
        shuffled_steps = model.encode_recipe([ingredients], [method[::-1]], ["bread"])
        no_title = model.encode_recipe([ingredients], [method])
    assert torch.allclose(plain, shuffled_ingredients, atol=1e-5), "the ingredients are a set"
    assert not torch.allclose(plain, shuffled_steps, atol=1e-4), "the method has an order"
    assert not torch.allclose(plain, no_title, atol=1e-4), "the title is merged in"


@pytest.mark.parametrize("kind", SEQUENCE)
def test_save_then_load_gives_identical_vectors(tmp_path, text_backbone_dir, kind):
    model = tiny_sequence_model(text_backbone_dir, kind)
    save_pretrained(model, tmp_path / "m")
    again = load_pretrained(tmp_path / "m")  # strict: every encoder weight saved and read back
    assert again.config.recipe_encoder == kind
    args = ([["1 egg", "salt"], []], [["Boil. Serve."], ["Toast the bread."]], ["egg", "toast"])
    with torch.no_grad():
        assert torch.equal(model.encode_recipe(*args), again.encode_recipe(*args))


def test_old_configs_load_as_pooled_and_the_default_reads_lines(text_backbone_dir):
    old = json.loads(RetrieverConfig().to_json())
    for name in ("recipe_encoder", "recipe_max_ingredients", "recipe_max_steps", "recipe_line_max_tokens"):
        old.pop(name)
    old.pop("recipe_sequence_dim")
    # A config.json from before the sequence encoders is the pooled model it was trained as...
    assert RetrieverConfig.from_json(json.dumps(old)) == RetrieverConfig(recipe_encoder="pooled")
    # ...while today's default preset reads recipes with the LSTMs, the seed design keeps its own.
    models = {name: load_preset(name).model for name in ("default", "lite2", "seed", "clip")}
    assert models["default"].recipe_encoder == models["lite2"].recipe_encoder == "lstm"
    assert models["seed"].recipe_encoder == models["clip"].recipe_encoder == "pooled"
    # The dataclass's defaults are the product default: one place says what the default is.
    assert RetrieverConfig() == models["default"]
    torch.manual_seed(0)
    model = Retriever(tiny_config(text_backbone_dir))
    assert not model.reads_lines and not any("recipe_sequence" in k for k in model.state_dict())
    H, L = model.recipe_encoder.feature_dim, model.config.lexical_dims
    assert model.recipe_head[0].in_features == 2 * H + L
    with pytest.raises(ValueError, match="recipe_encoder must be one of"):
        tiny_config(text_backbone_dir, recipe_encoder="gru")
    with pytest.raises(ValueError, match="multiple of 4"):
        Retriever(tiny_config(text_backbone_dir, recipe_encoder="hierarchical", recipe_sequence_dim=18))


def test_a_recipe_side_of_the_wrong_kind_is_refused_by_name(text_backbone_dir):
    lstm = tiny_sequence_model(text_backbone_dir, "lstm")
    with pytest.raises(TypeError, match="reads RecipeLines"):
        lstm.embed_recipe_features(torch.zeros(1, 8))
    torch.manual_seed(0)
    pooled = Retriever(tiny_config(text_backbone_dir)).eval()
    batch = lstm.recipe_inputs([["salt"]], [["Boil."]])
    assert isinstance(batch, RecipeLines)
    with pytest.raises(TypeError, match="reads pooled"):
        pooled.embed_recipe_features(batch)
