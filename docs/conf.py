# Sphinx configuration of the documentation site: `make docs` (sources staged by docs/stage.py into
# docs/_build/src, built into docs/_build/html). Offline: notebooks are never executed here (their outputs
# come from the commit or from tools/outputs.py), MathJax is served from the site itself.
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser(delimiters=['=']); _cfg.read(Path(__file__).resolve().parents[1]/'settings.ini', encoding='utf-8')
_d = _cfg['DEFAULT']

project = _d['lib_name']
author = _d['author']
copyright = _d['copyright']
release = version = _d['version']

extensions = ['myst_nb',
              'sphinx-mathjax-offline']   # MathJax 3 (tex-chtml) copied into _static/mathjax: no CDN at view time
exclude_patterns = ['_build', '**.ipynb_checkpoints']

nb_execution_mode = 'off'                 # outputs as staged; a broken cell fails tools/outputs.py, not here
nb_merge_streams = True
nb_ipywidgets_js = {}                     # no widget outputs: no require.js / widget script from a CDN
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'deflist', 'html_image']
myst_dmath_double_inline = True
myst_heading_anchors = 3

html_theme = 'sphinx_book_theme'
html_title = f'{project} {version}'
html_theme_options = {
    'repository_url': _d['git_url'], 'use_repository_button': True, 'home_page_in_toc': True,
    'show_toc_level': 2, 'navigation_with_keys': False, 'use_download_button': False,
}
html_static_path = ['_static']
html_css_files = ['custom.css']
html_last_updated_fmt = None
