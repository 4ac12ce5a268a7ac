import GemmMicroKernel

/// The 12x32 tile compiled with `-target-cpu skylake-avx512` (24 zmm accumulators).
/// Call it only when the CPU reports avx512f.
public func avx512MicroKernel12x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                   c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    gemmMicroKernel12x32(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
}

/// `gemmPackA` compiled with -target-cpu skylake-avx512.
public func avx512PackA(transposed: Bool, _ a: UnsafePointer<Float>, lda: Int, i0: Int, mc: Int, p0: Int, kc: Int,
                     mr: Int, into dst: UnsafeMutablePointer<Float>) {
    gemmPackA(transposed: transposed, a, lda: lda, i0: i0, mc: mc, p0: p0, kc: kc, mr: mr, into: dst)
}

/// `gemmPackB` compiled with -target-cpu skylake-avx512.
public func avx512PackB(transposed: Bool, _ b: UnsafePointer<Float>, ldb: Int, p0: Int, kc: Int, j0: Int, nc: Int,
                     nr: Int, into dst: UnsafeMutablePointer<Float>) {
    gemmPackB(transposed: transposed, b, ldb: ldb, p0: p0, kc: kc, j0: j0, nc: nc, nr: nr, into: dst)
}

/// `gemmMicroKernel12x32Gathered` compiled with -target-cpu skylake-avx512.
public func avx512MicroKernel12x32Gathered(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                                           c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    gemmMicroKernel12x32Gathered(kc: kc, a: a, b: b, offsets: offsets, c: c, ldc: ldc, alpha: alpha, beta: beta)
}

/// `gemmMicroKernel8x32Gathered` compiled with -target-cpu skylake-avx512.
public func avx512MicroKernel8x32Gathered(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                                          c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    gemmMicroKernel8x32Gathered(kc: kc, a: a, b: b, offsets: offsets, c: c, ldc: ldc, alpha: alpha, beta: beta)
}

/// `gemmMicroKernel8x32` compiled with -target-cpu skylake-avx512.
public func avx512MicroKernel8x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                  c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    gemmMicroKernel8x32(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
}
