import Foundation

// The bilinear affine warp: PyTorch's affine_grid + grid_sample with mode "bilinear",
// padding "zeros" and align_corners = true, for a batch of 2×3 matrices.
// Shape letters: N batch, C channels, H×W input, P×Q output, θ: N×2×3.
//
// Output pixel (i, j) has normalised coordinates (x, y) = (−1 + 2j/(Q−1), −1 + 2i/(P−1))
// (0 when that side has one pixel) and samples the input at
//   (u, v) = θ·(x, y, 1),   column ix = (u + 1)(W − 1)/2,   row iy = (v + 1)(H − 1)/2,
// mixing the four neighbouring pixels bilinearly; neighbours outside the image count as 0.
// The gradient to θ flows through the sampling coordinates: ∂out/∂ix is the difference of
// neighbours along x weighted by the y-fractions (and the same for iy), which is what lets the
// augmentation widths learn. Backward functions add into their gradient buffers.

/// Geometry of a warp; the output plane may differ in size from the input plane.
public struct AffineWarpShape: Sendable, Equatable {
    public var batch: Int, channels: Int, height: Int, width: Int, outHeight: Int, outWidth: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, outHeight: Int? = nil, outWidth: Int? = nil) {
        (self.batch, self.channels, self.height, self.width) = (batch, channels, height, width)
        (self.outHeight, self.outWidth) = (outHeight ?? height, outWidth ?? width)
    }

    func validate() {
        precondition(batch >= 0 && channels > 0 && height > 0 && width > 0 && outHeight > 0 && outWidth > 0,
                     "affineWarp: sizes must be positive: \(self)")
    }
}

/// The four neighbours of one sampling point: corner indices (or −1 outside) and weights.
private struct BilinearPoint {
    var index00 = -1, index01 = -1, index10 = -1, index11 = -1  // (row, column) offsets 0/1
    var fx: Float = 0, fy: Float = 0                             // fractional parts
    var ix: Float = 0, iy: Float = 0

    @inline(__always)
    init(u: Float, v: Float, height: Int, width: Int) {
        ix = (u + 1) * 0.5 * Float(width - 1)
        iy = (v + 1) * 0.5 * Float(height - 1)
        guard ix.isFinite && iy.isFinite else { return }
        let x0f = ix.rounded(.down), y0f = iy.rounded(.down)
        fx = ix - x0f
        fy = iy - y0f
        // Far outside the image every neighbour is outside: leave all indices at −1.
        guard x0f >= -1 && x0f < Float(width) && y0f >= -1 && y0f < Float(height) else { return }
        let x0 = Int(x0f), y0 = Int(y0f)
        let x0In = x0 >= 0, x1In = x0 + 1 < width, y0In = y0 >= 0, y1In = y0 + 1 < height
        if y0In && x0In { index00 = y0 * width + x0 }
        if y0In && x1In { index01 = y0 * width + x0 + 1 }
        if y1In && x0In { index10 = (y0 + 1) * width + x0 }
        if y1In && x1In { index11 = (y0 + 1) * width + x0 + 1 }
    }

    @inline(__always)
    func value(_ plane: UnsafePointer<Float>, _ index: Int) -> Float { index >= 0 ? plane[index] : 0 }
}

@inline(__always)
private func normalised(_ index: Int, _ count: Int) -> Float {
    count == 1 ? 0 : -1 + 2 * Float(index) / Float(count - 1)
}

/// output (N×C×P×Q) = input (N×C×H×W) sampled on the grid θ_n·(x, y, 1).
public func affineWarpForward(_ shape: AffineWarpShape, input: UnsafePointer<Float>, theta: UnsafePointer<Float>,
                              output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    shape.validate()
    let (c, h, w, p, q) = (shape.channels, shape.height, shape.width, shape.outHeight, shape.outWidth)
    parallelism.forEach(shape.batch * p, grain: max(1, 8192 / max(1, q * c))) { row in
        let n = row / p, i = row % p
        let t = theta + n * 6, y = normalised(i, p)
        for j in 0..<q {
            let x = normalised(j, q)
            let point = BilinearPoint(u: t[0] * x + t[1] * y + t[2], v: t[3] * x + t[4] * y + t[5], height: h, width: w)
            let (fx, fy) = (point.fx, point.fy)
            for ch in 0..<c {
                let plane = input + (n * c + ch) * h * w
                let top = point.value(plane, point.index00) * (1 - fx) + point.value(plane, point.index01) * fx
                let bottom = point.value(plane, point.index10) * (1 - fx) + point.value(plane, point.index11) * fx
                output[((n * c + ch) * p + i) * q + j] = top * (1 - fy) + bottom * fy
            }
        }
    }
}

/// Adds ∂L/∂input into `gradInput` and ∂L/∂θ into `gradTheta` (either may be nil), given
/// gradOutput (N×C×P×Q). Work is split over the batch.
public func affineWarpBackward(_ shape: AffineWarpShape, input: UnsafePointer<Float>, theta: UnsafePointer<Float>,
                               gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>?,
                               gradTheta: UnsafeMutablePointer<Float>?, parallelism: Parallelism) {
    shape.validate()
    let (c, h, w, p, q) = (shape.channels, shape.height, shape.width, shape.outHeight, shape.outWidth)
    let (halfW, halfH) = (0.5 * Double(w - 1), 0.5 * Double(h - 1))
    parallelism.forEach(shape.batch, grain: max(1, 8192 / max(1, p * q * c))) { n in
        let t = theta + n * 6
        var g = [Double](repeating: 0, count: 6)
        for i in 0..<p {
            let y = normalised(i, p)
            for j in 0..<q {
                let x = normalised(j, q)
                let point = BilinearPoint(u: t[0] * x + t[1] * y + t[2], v: t[3] * x + t[4] * y + t[5], height: h, width: w)
                let (fx, fy) = (point.fx, point.fy)
                var gix: Float = 0, giy: Float = 0
                for ch in 0..<c {
                    let offset = (n * c + ch) * h * w
                    let dy = gradOutput[((n * c + ch) * p + i) * q + j]
                    if let gradInput {
                        let plane = gradInput + offset
                        if point.index00 >= 0 { plane[point.index00] += dy * (1 - fx) * (1 - fy) }
                        if point.index01 >= 0 { plane[point.index01] += dy * fx * (1 - fy) }
                        if point.index10 >= 0 { plane[point.index10] += dy * (1 - fx) * fy }
                        if point.index11 >= 0 { plane[point.index11] += dy * fx * fy }
                    }
                    if gradTheta != nil {
                        let plane = input + offset
                        let v00 = point.value(plane, point.index00), v01 = point.value(plane, point.index01)
                        let v10 = point.value(plane, point.index10), v11 = point.value(plane, point.index11)
                        gix += dy * ((v01 - v00) * (1 - fy) + (v11 - v10) * fy)
                        giy += dy * ((v10 - v00) * (1 - fx) + (v11 - v01) * fx)
                    }
                }
                if gradTheta != nil {
                    let gu = Double(gix) * halfW, gv = Double(giy) * halfH
                    g[0] += gu * Double(x); g[1] += gu * Double(y); g[2] += gu
                    g[3] += gv * Double(x); g[4] += gv * Double(y); g[5] += gv
                }
            }
        }
        if let gradTheta {
            for k in 0..<6 { gradTheta[n * 6 + k] += Float(g[k]) }
        }
    }
}
