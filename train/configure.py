"""Plain-value configuration, as in nanoGPT: a script defines its settings as globals, then calls
override(globals()) so that `--key=value` on the command line replaces them (type kept from the default)."""
import ast
import sys


def override(settings):
    for arg in sys.argv[1:]:
        if not arg.startswith('--') or '=' not in arg:
            raise SystemExit(f'expected --key=value, got {arg!r}')
        key, value = arg[2:].split('=', 1)
        if key not in settings or key.startswith('_'):
            raise SystemExit(f'unknown setting {key!r}')
        default = settings[key]
        if isinstance(default, str):
            settings[key] = value
        else:
            parsed = ast.literal_eval(value)
            if type(parsed) is not type(default) and not (isinstance(default, float) and isinstance(parsed, int)):
                raise SystemExit(f'{key} takes a {type(default).__name__}, got {value!r}')
            settings[key] = type(default)(parsed)
