# Stub of the compiled module built from _native.c (see that file for the contract).
MAX_C: int
FLAG_SIGN: int
FLAG_SUM: int

def mean_check_f32(
    x_addr: int, n: int, k: int, c: int, out_addr: int, lo: float, hi: float, /
) -> int: ...
