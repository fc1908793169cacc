"""Rules of the architecture that a reviewer should not have to check by eye."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_cnn_core_never_imports_streamlit():
    files = list((ROOT / "cnn_core").rglob("*.py"))
    assert files
    offenders = [str(f) for f in files if "streamlit" in imported_modules(f)]
    assert offenders == []


def test_no_pickle_loading_anywhere():
    for path in [*ROOT.glob("*.py"), *(ROOT / "cnn_core").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]:
        text = path.read_text()
        assert "pickle.load" not in text, path
        assert "torch.load(" not in text or "weights_only=True" in text, path


def test_every_module_says_what_it_owns():
    for path in (ROOT / "cnn_core").glob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc) > 20, f"{path.name} has no module docstring"
