"""MkDocs hook: publish the tutorial notebooks (kept in notebooks/, not docs/) as notebooks/*.ipynb.

Each notebook becomes a plain ``File`` whose source folder is the repository root (mkdocs-jupyter
cannot read files made with ``File.generated``), so it is rendered like a notebook inside docs/.
Runs before mkdocs-jupyter's own ``on_files`` (higher priority). Every notebook in notebooks/ is
added; the nav in mkdocs.yml orders them.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File


@event_priority(100)
def on_files(files, config):
    root = Path(config.config_file_path).resolve().parent
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{notebook.name}", src_dir=str(root), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files
