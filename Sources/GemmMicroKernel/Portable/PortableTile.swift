/// The 6x16 tile compiled for the baseline of the target architecture: the fallback when the
/// CPU has neither AVX2+FMA nor AVX-512. x86-64's baseline (SSE2) has no FMA, so there the
/// tile multiplies and adds separately; aarch64's NEON fuses them.
public func portableMicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    #if arch(x86_64)
    gemmMicroKernel6x16Unfused(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
    #else
    gemmMicroKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
    #endif
}
