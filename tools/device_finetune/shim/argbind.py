"""Stand-in for argbind on the GPU machine: ``bind`` leaves what it decorates unchanged."""


def bind(*args, **kwargs):
    if args and callable(args[0]) and not kwargs:
        return args[0]
    return lambda fn: fn
