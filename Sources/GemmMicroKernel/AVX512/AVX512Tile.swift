import GemmMicroKernel

/// The 12x32 tile compiled with `-target-cpu skylake-avx512` (24 zmm accumulators).
/// Call it only when the CPU reports avx512f.
public func avx512MicroKernel12x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                   c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    gemmMicroKernel12x32(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
}
