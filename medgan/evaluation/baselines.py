"""Classical baselines that every model stands beside, on the same inputs. Pure functions over NumPy slices,
float32 (H, W) in [0, 1] (label maps: integer (H, W)); no model, no I/O.

- inpainting: biharmonic fill (scikit-image), Telea fast marching (OpenCV, a benchmark dependency);
- synthesis: each class painted with its mean training intensity; the nearest training slice (by label overlap);
- denoising: Gaussian σ = 1, total variation (Chambolle), non-local means (σ estimated from the image);
- ×4 super-resolution: bicubic and Lanczos up-sampling of the low-resolution image;
- deblurring: Richardson–Lucy and Wiener deconvolution with the known Gaussian PSF.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import restoration

from medgan.data.corruptions import BLUR_SIGMA, fill_hole


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0).astype(np.float32)


# --- inpainting (mask: bool (H, W), True = missing) -----------------------------------------------------------
def inpaint_biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return fill_hole(image, mask, "biharmonic")


def inpaint_telea(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """OpenCV's Telea fast-marching fill on the 16-bit quantised image (``opencv-python-headless``)."""
    try:
        import cv2
    except ImportError as exc:  # a benchmark dependency, listed in requirements-test.txt
        raise RuntimeError("the Telea baseline needs opencv-python-headless (pip install opencv-python-headless)"
                           ) from exc
    q = np.round(np.clip(image, 0, 1) * 65535).astype(np.uint16)
    out = cv2.inpaint(q, np.asarray(mask, np.uint8), radius, cv2.INPAINT_TELEA)
    return _clip(out.astype(np.float32) / 65535.0)


INPAINT_BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "biharmonic": inpaint_biharmonic, "telea": inpaint_telea}


# --- synthesis --------------------------------------------------------------------------------------------------
def class_means(images: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean intensity per class over a set of slices, float (K,)."""
    return np.array([float(images[labels == c].mean()) if (labels == c).any() else 0.0 for c in range(k)])


def paint_mean_intensity(labels: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Each class painted with its mean (training) intensity."""
    return _clip(np.asarray(means, np.float32)[np.clip(labels.astype(np.int64), 0, len(means) - 1)])


def nearest_training_slice(labels: np.ndarray, train_images: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """The training image whose label map agrees with ``labels`` on the most pixels (a copy, not a synthesis)."""
    agree = (train_labels == labels[None]).reshape(len(train_labels), -1).mean(1)
    return train_images[int(np.argmax(agree))].astype(np.float32)


# --- enhancement ------------------------------------------------------------------------------------------------
def denoise_gaussian(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    return _clip(ndimage.gaussian_filter(image.astype(np.float32), sigma))


def denoise_tv(image: np.ndarray, weight: float = 0.06) -> np.ndarray:
    return _clip(restoration.denoise_tv_chambolle(image.astype(np.float32), weight=weight))


def denoise_nlm(image: np.ndarray) -> np.ndarray:
    sigma = float(restoration.estimate_sigma(image))
    return _clip(restoration.denoise_nl_means(image.astype(np.float32), h=0.8 * sigma, sigma=sigma,
                                              patch_size=5, patch_distance=6, fast_mode=True))


def upsample_bicubic(low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return _resize_pil(low, shape, Image.Resampling.BICUBIC)


def upsample_lanczos(low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return _resize_pil(low, shape, Image.Resampling.LANCZOS)


def _resize_pil(low: np.ndarray, shape: tuple[int, int], method: Image.Resampling) -> np.ndarray:
    im = Image.fromarray(low.astype(np.float32), mode="F").resize((shape[1], shape[0]), method)
    return _clip(np.asarray(im))


def gaussian_psf(sigma: float = BLUR_SIGMA) -> np.ndarray:
    r = int(np.ceil(4 * sigma))
    ax = np.arange(-r, r + 1)
    k = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
    return (k / k.sum()).astype(np.float32)


def deblur_richardson_lucy(image: np.ndarray, sigma: float = BLUR_SIGMA, iterations: int = 20) -> np.ndarray:
    return _clip(restoration.richardson_lucy(np.clip(image, 1e-4, 1), gaussian_psf(sigma), num_iter=iterations,
                                             clip=True))


def deblur_wiener(image: np.ndarray, sigma: float = BLUR_SIGMA, balance: float = 0.01) -> np.ndarray:
    return _clip(restoration.wiener(image.astype(np.float64), gaussian_psf(sigma), balance=balance, clip=False))


DENOISE_BASELINES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gaussian σ=1": denoise_gaussian, "TV": denoise_tv, "non-local means": denoise_nlm}
DEBLUR_BASELINES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Richardson–Lucy": deblur_richardson_lucy, "Wiener": deblur_wiener}
SR_BASELINES: dict[str, Callable[[np.ndarray, tuple[int, int]], np.ndarray]] = {
    "bicubic": upsample_bicubic, "Lanczos": upsample_lanczos}
