"""Image transforms: values against hand-computed references, batch/single agreement, randomness."""
from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.data import transforms as T
from ember.data.transforms import InterpolationMode


def uint8_images(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- conversion
def test_to_tensor_layout_and_scale():
    image = uint8_images(4, 5, 3)
    tensor = T.ToTensor()(image)
    assert isinstance(tensor, ember.Tensor) and tensor.shape == (3, 4, 5) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor.numpy(), image.transpose(2, 0, 1) / np.float32(255), rtol=1e-7)
    grey = T.ToTensor()(np.array([[0, 255], [51, 102]], dtype=np.uint8))
    assert grey.shape == (1, 2, 2)
    np.testing.assert_allclose(grey.numpy()[0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    floats = np.full((2, 2, 1), 3.5, dtype=np.float32)  # float arrays are not rescaled
    np.testing.assert_array_equal(T.ToTensor()(floats).numpy(), np.full((1, 2, 2), 3.5))
    assert T.ToTensor()(np.zeros((2, 2), dtype=np.float64)).dtype == np.float64
    passed = ember.zeros(3, 2, 2)
    assert T.ToTensor()(passed) is passed
    batch = T.ToTensor().apply_batch(uint8_images(6, 4, 5, 3))
    assert batch.shape == (6, 3, 4, 5) and batch.dtype == np.float32
    assert T.ToTensor().apply_batch(uint8_images(6, 4, 5)).shape == (6, 1, 4, 5)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\), received shape \(1, 2, 3, 4\)"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), dtype=np.uint8))


def test_pil_to_tensor_and_convert_image_dtype():
    image = uint8_images(3, 4, 3)
    tensor = T.PILToTensor()(image)
    assert tensor.dtype == np.uint8 and tensor.shape == (3, 3, 4)
    np.testing.assert_array_equal(tensor.numpy(), image.transpose(2, 0, 1))
    as_float = T.ConvertImageDtype(ember.float32)(tensor)
    np.testing.assert_allclose(as_float.numpy(), image.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    back = T.ConvertImageDtype(ember.uint8)(ember.tensor(np.array([[[0.0, 0.5, 1.0]]], dtype=np.float32)))
    assert back.numpy().tolist() == [[[0, 127, 255]]]  # x · (255 + 1 - 0.001), truncated
    widened = T.ConvertImageDtype(ember.int16)(ember.tensor(np.array([[[1, 255]]], dtype=np.uint8)))
    assert widened.numpy().tolist() == [[[128, 32640]]]
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        T.ConvertImageDtype(ember.int64)(ember.zeros(1, 2, 2))


def test_normalize_values_and_errors():
    data = np.random.default_rng(0).random((3, 4, 4)).astype(np.float32)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = T.Normalize(mean, std)(ember.tensor(data))
    expected = (data - np.array(mean, dtype=np.float32)[:, None, None]) / np.array(std, dtype=np.float32)[:, None, None]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert out.dtype == np.float32
    single_value = T.Normalize((0.5,), (0.5,))(ember.tensor(data))
    np.testing.assert_allclose(single_value.numpy(), (data - 0.5) / 0.5, rtol=1e-6)
    batch = T.Normalize(mean, std).apply_batch(ember.tensor(np.stack([data, data])))
    np.testing.assert_allclose(batch.numpy()[1], expected, rtol=1e-6)
    inplace = ember.tensor(data.copy())
    assert T.Normalize(mean, std, inplace=True)(inplace) is inplace
    np.testing.assert_allclose(inplace.numpy(), expected, rtol=1e-6)
    with pytest.raises(TypeError, match="expected a Tensor image"):
        T.Normalize(mean, std)(data)
    with pytest.raises(ValueError, match="mean has 3 values but the image has 2 channels"):
        T.Normalize(mean, std)(ember.zeros(2, 4, 4))
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize(mean, std)(ember.tensor(np.zeros((3, 2, 2), dtype=np.uint8)))
    with pytest.raises(ValueError, match="zero"):
        T.Normalize((0.0,), (0.0,))


# ------------------------------------------------------------------------------------------------ resize
def test_resize_bilinear_upscale_matches_hand_computation():
    image = np.array([[0, 4], [8, 12]], dtype=np.float32)
    # half-pixel centres: sources at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1) on each axis
    expected = np.array([[0, 1, 3, 4], [2, 3, 5, 6], [6, 7, 9, 10], [8, 9, 11, 12]], dtype=np.float32)
    out = T.Resize((4, 4))(image)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)
    tensor = T.Resize((4, 4))(ember.tensor(image[None]))
    assert tensor.shape == (1, 4, 4)
    np.testing.assert_allclose(tensor.numpy()[0], expected, atol=1e-6)


def test_resize_downscale_with_and_without_antialias():
    row = np.array([[0, 1, 2, 3]], dtype=np.float32)
    # antialias: triangle of half-width 2 around centres 1 and 3 → weights (3, 3, 1)/7 and (1, 3, 3)/7
    np.testing.assert_allclose(T.Resize((1, 2))(row), [[5 / 7, 16 / 7]], rtol=1e-6)
    # plain bilinear samples at 0.5 and 2.5
    np.testing.assert_allclose(T.Resize((1, 2), antialias=False)(row), [[0.5, 2.5]], rtol=1e-6)


def test_resize_uint8_rounds_and_nearest_modes():
    out = T.Resize((1, 4))(np.array([[0, 255]], dtype=np.uint8))
    assert out.dtype == np.uint8 and out.tolist() == [[0, 64, 191, 255]]  # 63.75 → 64, 191.25 → 191
    row = np.array([[10, 20, 30, 40]], dtype=np.uint8)
    assert T.Resize((1, 2), interpolation=InterpolationMode.NEAREST)(row).tolist() == [[10, 30]]
    assert T.Resize((1, 2), interpolation=InterpolationMode.NEAREST_EXACT)(row).tolist() == [[20, 40]]
    assert T.Resize((1, 8), interpolation="nearest")(row).tolist() == [[10, 10, 20, 20, 30, 30, 40, 40]]


def test_resize_size_rules():
    assert T.Resize(15)(np.zeros((30, 40), dtype=np.uint8)).shape == (15, 20)  # the smaller edge
    assert T.Resize(10)(np.zeros((40, 20, 3), dtype=np.uint8)).shape == (20, 10, 3)
    assert T.Resize([12])(np.zeros((24, 36), dtype=np.uint8)).shape == (12, 18)
    assert T.Resize(10, max_size=12)(np.zeros((10, 40), dtype=np.uint8)).shape == (3, 12)
    assert T.Resize((5, 7)).apply_batch(np.zeros((4, 9, 9), dtype=np.uint8)).shape == (4, 5, 7)
    assert T.Resize((5, 7)).apply_batch(ember.zeros(4, 3, 9, 9)).shape == (4, 3, 5, 7)
    with pytest.raises(ValueError, match="max_size"):
        T.Resize(10, max_size=8)
    with pytest.raises(ValueError, match="interpolation"):
        T.Resize(10, interpolation="bicubic")


# ------------------------------------------------------------------------------------------------ crops
def test_center_crop_and_padding_when_too_small():
    image = np.arange(25, dtype=np.uint8).reshape(5, 5)
    np.testing.assert_array_equal(T.CenterCrop(3)(image), image[1:4, 1:4])
    np.testing.assert_array_equal(T.CenterCrop((2, 2))(image), image[2:4, 2:4])  # round(1.5) = 2
    padded = T.CenterCrop(7)(np.ones((5, 5), dtype=np.uint8))
    assert padded.shape == (7, 7) and padded.sum() == 25 and padded[0].sum() == 0 and padded[1, 1] == 1


def test_pad_modes():
    image = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    np.testing.assert_array_equal(T.Pad(1, fill=9)(image), np.pad(image, 1, constant_values=9))
    np.testing.assert_array_equal(T.Pad((1, 2), padding_mode="edge")(image),
                                  np.pad(image, ((2, 2), (1, 1)), mode="edge"))
    np.testing.assert_array_equal(T.Pad((1, 0, 0, 1), padding_mode="reflect")(image),
                                  np.pad(image, ((0, 1), (1, 0)), mode="reflect"))
    rgb = T.Pad(1, fill=(1, 2, 3))(np.zeros((2, 2, 3), dtype=np.uint8))
    assert rgb[0, 0].tolist() == [1, 2, 3] and rgb[1, 1].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="padding_mode"):
        T.Pad(1, padding_mode="wrap")


def test_random_crop_windows_come_from_the_padded_image():
    images = np.arange(16 * 36, dtype=np.int64).reshape(16, 6, 6).astype(np.float32)
    crops = T.RandomCrop(4, padding=1).apply_batch(images)
    assert crops.shape == (16, 4, 4)
    corners = set()
    for image, crop in zip(images, crops):
        padded = np.pad(image, 1)
        found = [(i, j) for i in range(5) for j in range(5) if np.array_equal(padded[i:i + 4, j:j + 4], crop)]
        assert found, "every crop must be a 4×4 window of the padded image"
        corners.add(found[0])
    assert len(corners) > 3  # independent positions per image
    assert T.RandomCrop(8, pad_if_needed=True)(np.ones((5, 6), dtype=np.uint8)).shape == (8, 8)
    with pytest.raises(ValueError, match=r"crop size \(8, 8\) is larger than the \(padded\) image size \(5, 6\)"):
        T.RandomCrop(8)(np.ones((5, 6), dtype=np.uint8))


# ------------------------------------------------------------------------------------------------ flips
def test_flips_deterministic_probabilities_and_per_image_draws():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(image), image[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(image), image)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(image), image[::-1])
    tensor = ember.tensor(np.arange(12, dtype=np.float32).reshape(1, 3, 4))
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(tensor).numpy(), tensor.numpy()[:, :, ::-1])
    batch = np.repeat(image[None], 32, axis=0)
    flipped = T.RandomHorizontalFlip().apply_batch(batch)
    is_flipped = [np.array_equal(out, image[:, ::-1]) for out in flipped]
    assert all(flip or np.array_equal(out, image) for flip, out in zip(is_flipped, flipped))
    assert 0 < sum(is_flipped) < 32


def test_a_tensor_of_images_shares_one_draw_as_in_torchvision():
    images = ember.tensor(np.random.default_rng(0).random((8, 1, 3, 3)).astype(np.float32))
    for _ in range(5):
        out = T.RandomHorizontalFlip()(images).numpy()
        assert np.array_equal(out, images.numpy()) or np.array_equal(out, images.numpy()[..., ::-1])


# ------------------------------------------------------------------------------------- rotation / affine
@pytest.mark.parametrize("size", [5, 6])
def test_rotation_by_90_degrees_equals_rot90(size):
    image = uint8_images(size, size)
    np.testing.assert_array_equal(T.RandomRotation((90, 90))(image), np.rot90(image))
    np.testing.assert_array_equal(T.RandomRotation((-90, -90))(image), np.rot90(image, -1))
    np.testing.assert_array_equal(T.RandomRotation((180, 180))(image), np.rot90(image, 2))
    np.testing.assert_array_equal(T.RandomRotation((0, 0))(image), image)
    rgb = uint8_images(size, size, 3)
    np.testing.assert_array_equal(T.RandomRotation((90, 90))(rgb), np.rot90(rgb))
    bilinear = T.RandomRotation((90, 90), interpolation=InterpolationMode.BILINEAR)(rgb)
    np.testing.assert_array_equal(bilinear, np.rot90(rgb))
    tensor = ember.tensor(rgb.transpose(2, 0, 1).astype(np.float32))
    np.testing.assert_array_equal(T.RandomRotation((90, 90))(tensor).numpy(), np.rot90(tensor.numpy(), axes=(1, 2)))


def test_rotation_fill_and_expand():
    image = np.full((6, 6), 200, dtype=np.uint8)
    rotated = T.RandomRotation((45, 45), fill=7)(image)
    assert rotated[0, 0] == 7 and rotated[3, 3] == 200
    wide = uint8_images(4, 6)
    np.testing.assert_array_equal(T.RandomRotation((90, 90), expand=True)(wide), np.rot90(wide))
    with pytest.raises(ValueError, match="different sizes"):
        T.RandomRotation((0, 45), expand=True).apply_batch(uint8_images(8, 6, 6))


def test_random_affine_translation_is_an_integer_shift_within_range():
    images = np.zeros((24, 10, 10), dtype=np.uint8)
    images[:, 3:7, 4:6] = 255
    shifted = T.RandomAffine(degrees=0, translate=(0.2, 0.3)).apply_batch(images)
    shifts = set()
    for out in shifted:
        matches = [(dx, dy) for dx in range(-2, 3) for dy in range(-3, 4)
                   if np.array_equal(out, np.roll(images[0], (dy, dx), axis=(0, 1)))]
        assert len(matches) == 1
        shifts.add(matches[0])
    assert len(shifts) > 3


def test_random_affine_rotation_is_clockwise_and_shear_is_torchvision_s():
    image = uint8_images(5, 5)
    np.testing.assert_array_equal(T.RandomAffine(degrees=(90, 90))(image), np.rot90(image, -1))
    np.testing.assert_array_equal(T.RandomAffine(degrees=0, scale=(1, 1))(image), image)
    line = np.zeros((5, 5), dtype=np.uint8)
    line[:, 2] = 255
    # x-shear of 45°: output (x, y) reads input (x + y) about the centre → the line becomes the anti-diagonal
    sheared = T.RandomAffine(degrees=0, shear=(45, 45))(line)
    np.testing.assert_array_equal(sheared, np.fliplr(np.eye(5, dtype=np.uint8)) * 255)
    doubled = T.RandomAffine(degrees=0, scale=(2, 2))(np.arange(16, dtype=np.uint8).reshape(4, 4))
    np.testing.assert_array_equal(doubled, [[5, 5, 6, 6], [5, 5, 6, 6], [9, 9, 10, 10], [9, 9, 10, 10]])
    # a positive translation moves the content right and down, as torchvision's affine(translate=...)
    from ember.data import _image

    matrices = _image.inverse_affine_matrices([0.0], [[2.0, 1.0]], [1.0], [[0.0, 0.0]], (0.0, 0.0))
    moved = _image.affine_sample(image[None, :, :, None], matrices, 5, 5, "nearest", np.zeros(1))[0, :, :, 0]
    np.testing.assert_array_equal(moved[1:, 2:], image[:-1, :-2])
    assert moved[0].sum() == 0 and moved[:, :2].sum() == 0
    with pytest.raises(ValueError, match="translate values should be between 0 and 1"):
        T.RandomAffine(0, translate=(1.5, 0))


# ----------------------------------------------------------------------------------------------- colour
def test_grayscale_weights_and_channels():
    pixel = np.array([[[100, 50, 200]]], dtype=np.uint8)
    assert T.Grayscale()(pixel).tolist() == [[82]]  # 0.299·100 + 0.587·50 + 0.114·200 = 82.05
    assert T.Grayscale(num_output_channels=3)(pixel).tolist() == [[[82, 82, 82]]]
    floats = ember.tensor(np.array([[[1.0]], [[0.5]], [[0.25]]], dtype=np.float32))
    grey = T.Grayscale()(floats)
    assert grey.shape == (1, 1, 1)
    np.testing.assert_allclose(grey.numpy(), [[[0.299 + 0.587 * 0.5 + 0.114 * 0.25]]], rtol=1e-6)
    one_channel = uint8_images(4, 4)
    replicated = T.Grayscale(num_output_channels=3)(one_channel)
    assert replicated.shape == (4, 4, 3)
    assert all(np.array_equal(replicated[..., c], one_channel) for c in range(3))
    assert T.Grayscale(3).apply_batch(uint8_images(2, 4, 4)).shape == (2, 4, 4, 3)
    assert T.Grayscale(3).apply_batch(ember.zeros(2, 1, 4, 4)).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="1 or 3 channels, received 2"):
        T.Grayscale()(np.zeros((3, 3, 2), dtype=np.uint8))


def test_color_jitter_brightness_is_exact_for_a_fixed_factor():
    floats = np.array([[0.1, 0.4], [0.6, 0.9]], dtype=np.float32)
    out = T.ColorJitter(brightness=(1.5, 1.5))(floats)
    np.testing.assert_allclose(out, np.minimum(floats * 1.5, 1.0), rtol=1e-6)
    assert out.dtype == np.float32
    ints = np.array([[3, 100, 200]], dtype=np.uint8)
    assert T.ColorJitter(brightness=(1.5, 1.5))(ints).tolist() == [[4, 150, 255]]  # 4.5 truncates to 4
    assert T.ColorJitter(brightness=(0.5, 0.5))(ints).tolist() == [[1, 50, 100]]


def test_color_jitter_contrast_saturation_hue():
    image = np.random.default_rng(0).random((4, 4, 3)).astype(np.float32)
    grey_mean = (image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).mean()
    contrast = T.ColorJitter(contrast=(0.5, 0.5))(image)
    np.testing.assert_allclose(contrast, np.clip(0.5 * image + 0.5 * grey_mean, 0, 1), rtol=1e-5)
    desaturated = T.ColorJitter(saturation=(0.0, 0.0))(image)
    grey = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(desaturated, np.repeat(grey[..., None], 3, axis=-1), rtol=1e-5)
    red = np.zeros((1, 1, 3), dtype=np.float32)
    red[..., 0] = 1.0
    np.testing.assert_allclose(T.ColorJitter(hue=(1 / 3, 1 / 3))(red), [[[0.0, 1.0, 0.0]]], atol=1e-6)
    np.testing.assert_allclose(T.ColorJitter(hue=(0.0, 0.0))(image), image, atol=1e-6)
    mixed = np.array([[[0.2, 0.6, 0.4]]], dtype=np.float32)  # hue 150°: + 60° → 210° = (0.2, 0.4, 0.6)
    np.testing.assert_allclose(T.ColorJitter(hue=(1 / 6, 1 / 6))(mixed), [[[0.2, 0.4, 0.6]]], atol=1e-6)
    with pytest.raises(ValueError, match="hue values should be within"):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="non-negative"):
        T.ColorJitter(brightness=-1)


def test_color_jitter_random_factors_are_in_range_and_per_image():
    images = np.full((16, 2, 2), 0.5, dtype=np.float32)
    out = T.ColorJitter(brightness=0.4).apply_batch(images)
    factors = out[:, 0, 0] / 0.5
    assert np.all((factors >= 0.6 - 1e-6) & (factors <= 1.4 + 1e-6))
    assert len(np.unique(factors)) == 16


# ------------------------------------------------------------------------------- batches and randomness
DETERMINISTIC = [
    T.Resize((7, 9)), T.Resize(5, antialias=False), T.CenterCrop(4), T.Pad(2, padding_mode="reflect"),
    T.Grayscale(num_output_channels=3), T.RandomRotation((30, 30), interpolation=InterpolationMode.BILINEAR),
    T.RandomAffine(degrees=(10, 10), scale=(0.8, 0.8), shear=(5, 5)), T.ColorJitter(brightness=(1.2, 1.2),
                                                                                     contrast=(0.7, 0.7)),
    T.Compose([T.Resize((8, 8)), T.ToTensor(), T.Normalize((0.5, 0.4, 0.3), (0.2, 0.2, 0.2))]),
]


@pytest.mark.parametrize("transform", DETERMINISTIC, ids=lambda t: type(t).__name__)
def test_batch_and_single_results_agree(transform):
    images = uint8_images(5, 10, 11, 3)
    batch = T.apply_batch(transform, images)
    if not isinstance(transform, T.Compose):
        assert batch.dtype == np.uint8
    for image, result in zip(images, batch):
        single = transform(image)
        expected = single.numpy() if isinstance(single, ember.Tensor) else single
        np.testing.assert_array_equal(result.numpy() if isinstance(result, ember.Tensor) else result, expected)
    if isinstance(transform, T.Compose):
        return
    tensors = ember.tensor(images.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    tensor_batch = transform.apply_batch(tensors).numpy()
    assert tensor_batch.dtype == np.float32
    for index in range(len(images)):
        np.testing.assert_allclose(tensor_batch[index], transform(ember.tensor(tensors.numpy()[index])).numpy(),
                                   rtol=1e-6, atol=1e-6)


def test_tensor_and_array_images_give_the_same_geometry():
    image = np.random.default_rng(0).random((9, 9, 3)).astype(np.float32)
    for transform in (T.Resize((5, 6)), T.RandomRotation((20, 20), interpolation="bilinear"), T.CenterCrop(4)):
        from_array = transform(image)
        from_tensor = transform(ember.tensor(image.transpose(2, 0, 1))).numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(from_tensor, from_array, rtol=1e-6, atol=1e-7)


def test_random_transforms_are_reproducible_and_independent_per_image():
    images = np.repeat(uint8_images(1, 12, 12), 16, axis=0)
    rotate = T.RandomRotation(180)
    ember.manual_seed(4)
    first = rotate.apply_batch(images)
    ember.manual_seed(4)
    second = rotate.apply_batch(images)
    np.testing.assert_array_equal(first, second)
    distinct = {out.tobytes() for out in first}
    assert len(distinct) == 16  # every image got its own angle
    third = rotate.apply_batch(images)
    assert not np.array_equal(first, third)


def test_apply_batch_helper_loops_for_plain_callables_and_lambda():
    images = uint8_images(4, 3, 3)
    doubled = T.apply_batch(lambda image: image.astype(np.int32) * 2, images)
    np.testing.assert_array_equal(doubled, images.astype(np.int32) * 2)
    to_tensor = T.apply_batch(T.Lambda(lambda image: ember.tensor(image[None].astype(np.float32))), images)
    assert isinstance(to_tensor, ember.Tensor) and to_tensor.shape == (4, 1, 3, 3)
    composed = T.Compose([T.ToTensor(), lambda tensor: tensor * 2])
    np.testing.assert_allclose(composed.apply_batch(images).numpy(), images[:, None] / np.float32(255) * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="different shapes"):
        T.apply_batch(lambda image: image[: int(image[0, 0]) % 2 + 1], np.arange(18, dtype=np.uint8).reshape(2, 3, 3))
    with pytest.raises(TypeError, match="not callable"):
        T.Compose([T.ToTensor(), 3])


def test_wrong_inputs_name_the_transform_and_shape():
    with pytest.raises(ValueError, match=r"Resize.apply_batch: expected an image batch array \(N, H, W\) or"):
        T.Resize(4).apply_batch(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"RandomRotation: expected a Tensor image \(C, H, W\)"):
        T.RandomRotation(3)(ember.zeros(4, 4))
    with pytest.raises(TypeError, match="CenterCrop: expected a NumPy image array or a Tensor, received list"):
        T.CenterCrop(2)([[1, 2], [3, 4]])


def test_tutorial_pipeline_on_a_batch_of_mnist_sized_digits():
    digits = uint8_images(64, 28, 28)
    digits.setflags(write=False)  # datasets share their arrays read-only; transforms must not write into them
    pipeline = T.Compose([
        T.Resize((48, 48)), T.Grayscale(num_output_channels=3), T.RandomRotation(10),
        T.ColorJitter(brightness=0.2, contrast=0.2), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3),
    ])
    batch = T.apply_batch(pipeline, digits)
    assert isinstance(batch, ember.Tensor)
    assert batch.shape == (64, 3, 48, 48) and batch.dtype == np.float32
    values = batch.numpy()
    assert values.min() >= -1.0 and values.max() <= 1.0
    np.testing.assert_array_equal(values[:, 0], values[:, 2])  # grey replicated into 3 channels
    # without the random steps, the batch equals the images transformed one by one
    fixed = T.Compose([T.Resize((48, 48)), T.Grayscale(num_output_channels=3), T.ToTensor(),
                       T.Normalize((0.5,) * 3, (0.5,) * 3)])
    fixed_batch = T.apply_batch(fixed, digits).numpy()
    np.testing.assert_array_equal(fixed_batch[17], fixed(digits[17]).numpy())
    ember.manual_seed(9)
    again = T.apply_batch(pipeline, digits).numpy()
    ember.manual_seed(9)
    np.testing.assert_array_equal(T.apply_batch(pipeline, digits).numpy(), again)


def test_ember_transforms_module_is_the_same():
    from ember import transforms

    assert transforms.RandomRotation is T.RandomRotation
    assert "ColorJitter" in transforms.__all__
