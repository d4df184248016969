"""Load network specs by built-in name or from a TOML file of your own."""
from __future__ import annotations

import tomllib
from pathlib import Path

from shared.spec import Spec, SpecError, from_dict

SPEC_DIR = Path(__file__).parent / "specs"
BUILTINS = ("xor", "and", "or", "spiral", "sine", "mnist")


def builtin_name(name_or_path: str | Path) -> str | None:
    """The built-in ``name_or_path`` names, or whose shipped TOML file it is; else None."""
    text = str(name_or_path)
    if text in BUILTINS:
        return text
    try:
        path = Path(text).resolve()
    except (OSError, RuntimeError):
        return None
    return next((name for name in BUILTINS if path == (SPEC_DIR / f"{name}.toml").resolve()), None)


def load(name_or_path: str | Path) -> Spec:
    """The built-in spec called ``name_or_path``, or the spec in that TOML file."""
    text = str(name_or_path)
    if text in BUILTINS:
        path = SPEC_DIR / f"{text}.toml"
    else:
        path = Path(text)
        if not text:  # Path("") is the current folder
            raise SpecError(f"network: empty; expected a built-in name {BUILTINS} or the path "
                            f"of a TOML file")
        if path.is_dir():
            raise SpecError(f"network {text!r}: a directory; expected a built-in name "
                            f"{BUILTINS} or the path of a TOML file")
        if not path.is_file():
            what = "not a regular file" if path.exists() else "no such file exists"
            raise SpecError(f"network {text!r}: expected a built-in name {BUILTINS} "
                            f"or the path of a TOML file, and {what}")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"{path}: not a UTF-8 text file, as TOML must be ({error})") from None
    except OSError as error:
        raise SpecError(f"{path}: cannot read the file ({error.strerror or error})") from None
    if content.startswith("\ufeff"):
        raise SpecError(f"{path}: starts with a byte-order mark (U+FEFF), which TOML does not "
                        f"allow; save the file as UTF-8 without a BOM")
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: not valid TOML ({error})") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise SpecError(f"{path}: arrays or inline tables nested too deeply to parse; a spec "
                        f"nests them two levels at most") from None
    try:
        return from_dict(data, name=path.stem)
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from None
