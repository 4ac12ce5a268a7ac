import GemmMicroKernel

/// The 6x16 tile compiled with `-target-cpu haswell` (AVX2 + FMA, 12 ymm accumulators).
/// Call it only when the CPU reports avx2 and fma.
public func avx2MicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    gemmMicroKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
}
