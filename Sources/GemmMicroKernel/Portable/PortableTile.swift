/// The 6x16 tile compiled for the baseline of the target architecture (SSE2 on x86-64,
/// NEON on aarch64): the fallback when the CPU has neither AVX2+FMA nor AVX-512.
public func portableMicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    gemmMicroKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
}
