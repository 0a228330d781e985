"""Decoding media and keeping what was decoded: the only code that opens image and video
files.

* :mod:`.image_io` - images of any oddity (EXIF rotation, CMYK, palettes, truncation, huge
  photos decoded at a reduced size), :mod:`.video_io` - videos through decord or PyAV,
  and the chunked :class:`~.video_io.VideoWriter`;
* :mod:`.image_store`, :mod:`.frame_cache` - decoded images (one memory-mapped store per
  dataset and cap) and resized video frames kept on disk, keyed by the source file;
* :mod:`.decode_errors` - the one error of an unreadable file.
"""
