# The toy run, killed after iteration 6 as a lost job would be.
_base_ = ['./toy_regression.py']
custom_hooks = [dict(type='DumpRankStateHook'), dict(type='InterruptAtIterHook', at=6)]
