"""The data tests, in subfolders that follow ``morse/data``; the helpers they share (tiny
datasets in the layouts users bring: ``own_layouts.py``; archives in the real layouts and a
local file server: ``real_layouts.py``) are modules of this folder, which pytest puts on
``sys.path`` when it loads this file."""
