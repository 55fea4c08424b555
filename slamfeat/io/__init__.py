"""Reading and writing files: images (:mod:`.images`), atomic writes and output folders
(:mod:`.files`), features and matches (:mod:`.h5`), image-pair lists (:mod:`.pairs`), TUM
trajectories (:mod:`.tum`), the student checkpoint (:mod:`.checkpoint`), and the checks and locks of
a run's outputs (:mod:`.outputs`).

The names of the first two are here; the others are imported from their modules (``h5`` needs
``h5py`` and the features type, ``tum`` needs scipy).
"""

from .files import atomic_path, input_file, output_dir, write_json_atomic, write_text_atomic
from .images import IMAGE_SUFFIXES, MIN_IMAGE_SIDE, check_image_size, image_to_tensor, list_images, read_image

__all__ = ["IMAGE_SUFFIXES", "MIN_IMAGE_SIDE", "atomic_path", "check_image_size", "input_file", "image_to_tensor", "list_images",
           "output_dir", "read_image", "write_json_atomic", "write_text_atomic"]
