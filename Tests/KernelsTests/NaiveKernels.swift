// Plain, obviously-correct twins of the fast kernels: the oracles the tests compare against.
@testable import Kernels

/// C = alpha·op(A)·op(B) + beta·C in Double, one dot product per element.
func naiveGemm(_ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
               b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int) -> [Float] {
    var out = c
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let av = ta == .none ? a[i * lda + p] : a[p * lda + i]
                let bv = tb == .none ? b[p * ldb + j] : b[j * ldb + p]
                sum += Double(av) * Double(bv)
            }
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            out[i * ldc + j] = Float(Double(alpha) * sum + old)
        }
    }
    return out
}

/// ∂L/∂weight of the direct convolution by its definition: weight[k][c][r][t] is multiplied by
/// x[n][c][ih][iw] into y[n][k][oh][ow], so its gradient sums g·x over every such pair.
func naiveConv2dWeightGradient(_ s: Conv2DShape, x: [Float], g: [Float]) -> [Float] {
    let (p, q) = (s.outHeight, s.outWidth)
    var dw = [Float](repeating: 0, count: s.weightCount)
    for k in 0..<s.outChannels { for c in 0..<s.inChannels { for r in 0..<s.kernelHeight { for t in 0..<s.kernelWidth {
        var sum = 0.0
        for n in 0..<s.batch { for oh in 0..<p { for ow in 0..<q {
            let ih = oh * s.strideH - s.padH + r * s.dilationH
            let iw = ow * s.strideW - s.padW + t * s.dilationW
            guard ih >= 0 && ih < s.height && iw >= 0 && iw < s.width else { continue }
            sum += Double(g[((n * s.outChannels + k) * p + oh) * q + ow]) * Double(x[((n * s.inChannels + c) * s.height + ih) * s.width + iw])
        } } }
        dw[((k * s.inChannels + c) * s.kernelHeight + r) * s.kernelWidth + t] = Float(sum)
    } } } }
    return dw
}

/// Direct convolution by its definition.
func naiveConv2d(_ s: Conv2DShape, x: [Float], w: [Float], bias: [Float]?) -> [Float] {
    let (p, q) = (s.outHeight, s.outWidth)
    var y = [Float](repeating: 0, count: s.outputCount)
    for n in 0..<s.batch {
        for k in 0..<s.outChannels {
            for oh in 0..<p {
                for ow in 0..<q {
                    var sum = Double(bias?[k] ?? 0)
                    for c in 0..<s.inChannels {
                        for r in 0..<s.kernelHeight {
                            for t in 0..<s.kernelWidth {
                                let ih = oh * s.strideH - s.padH + r * s.dilationH
                                let iw = ow * s.strideW - s.padW + t * s.dilationW
                                guard ih >= 0 && ih < s.height && iw >= 0 && iw < s.width else { continue }
                                sum += Double(x[((n * s.inChannels + c) * s.height + ih) * s.width + iw])
                                    * Double(w[((k * s.inChannels + c) * s.kernelHeight + r) * s.kernelWidth + t])
                            }
                        }
                    }
                    y[((n * s.outChannels + k) * p + oh) * q + ow] = Float(sum)
                }
            }
        }
    }
    return y
}

/// Max or average pooling by definition (average counts padding, as PyTorch's default).
func naivePool(_ s: Pool2DShape, x: [Float], max isMax: Bool) -> [Float] {
    let (p, q) = (s.outHeight, s.outWidth)
    var y = [Float](repeating: 0, count: s.planes * p * q)
    for plane in 0..<s.planes {
        for oh in 0..<p {
            for ow in 0..<q {
                var best = -Float.infinity, sum: Float = 0, cells = 0
                for r in 0..<s.kernel {
                    for t in 0..<s.kernel {
                        let ih = oh * s.stride - s.padding + r, iw = ow * s.stride - s.padding + t
                        if ih < s.height + s.padding && iw < s.width + s.padding { cells += 1 }
                        guard ih >= 0 && ih < s.height && iw >= 0 && iw < s.width else { continue }
                        let v = x[(plane * s.height + ih) * s.width + iw]
                        best = Swift.max(best, v)
                        sum += v
                    }
                }
                y[(plane * p + oh) * q + ow] = isMax ? best : sum / Float(cells)
            }
        }
    }
    return y
}

/// Bilinear warp by the formula in AffineWarp.swift's header, in Double.
func naiveAffineWarp(_ s: AffineWarpShape, x: [Float], theta: [Float]) -> [Float] {
    var y = [Float](repeating: 0, count: s.batch * s.channels * s.outHeight * s.outWidth)
    func pixel(_ n: Int, _ c: Int, _ r: Int, _ col: Int) -> Double {
        guard r >= 0 && r < s.height && col >= 0 && col < s.width else { return 0 }
        return Double(x[((n * s.channels + c) * s.height + r) * s.width + col])
    }
    for n in 0..<s.batch {
        let t = theta[(n * 6)..<(n * 6 + 6)].map(Double.init)
        for i in 0..<s.outHeight {
            for j in 0..<s.outWidth {
                let xn = s.outWidth == 1 ? 0 : -1 + 2 * Double(j) / Double(s.outWidth - 1)
                let yn = s.outHeight == 1 ? 0 : -1 + 2 * Double(i) / Double(s.outHeight - 1)
                let u = t[0] * xn + t[1] * yn + t[2], v = t[3] * xn + t[4] * yn + t[5]
                let ix = (u + 1) / 2 * Double(s.width - 1), iy = (v + 1) / 2 * Double(s.height - 1)
                let x0 = Int(ix.rounded(.down)), y0 = Int(iy.rounded(.down))
                let fx = ix - Double(x0), fy = iy - Double(y0)
                for c in 0..<s.channels {
                    let value = pixel(n, c, y0, x0) * (1 - fx) * (1 - fy) + pixel(n, c, y0, x0 + 1) * fx * (1 - fy)
                        + pixel(n, c, y0 + 1, x0) * (1 - fx) * fy + pixel(n, c, y0 + 1, x0 + 1) * fx * fy
                    y[((n * s.channels + c) * s.outHeight + i) * s.outWidth + j] = Float(value)
                }
            }
        }
    }
    return y
}
