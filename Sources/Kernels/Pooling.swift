// Max, average and global average pooling over NCHW planes.
// Shape letters: N batch, C channels, H×W input, P×Q output; `planes` = N·C.
// Windows: kernel k, stride s, padding pad (PyTorch's MaxPool2d/AvgPool2d, floor mode).
// Backward functions add into their gradient buffers (max pooling's writes with `accumulate:
// false`). Work is split over planes.

/// One pooling window geometry on an H×W plane.
public struct Pool2DShape: Sendable, Equatable {
    public var planes: Int, height: Int, width: Int
    public var kernel: Int, stride: Int, padding: Int

    /// - Parameters: planes: N·C; kernel, stride, padding: the window (stride defaults to the kernel).
    public init(planes: Int, height: Int, width: Int, kernel: Int, stride: Int? = nil, padding: Int = 0) {
        (self.planes, self.height, self.width) = (planes, height, width)
        (self.kernel, self.stride, self.padding) = (kernel, stride ?? kernel, padding)
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }

    func validate() {
        precondition(planes >= 0 && height > 0 && width > 0 && kernel > 0 && stride > 0 && padding >= 0
                     && padding * 2 <= kernel && outHeight > 0 && outWidth > 0, "pool2d: bad geometry \(self)")
    }
}

/// output (planes×P×Q) = max over each window; `argmax` (planes×P×Q) receives the index
/// h·W + w of the winner within its plane (the first one on ties; NaN wins), for the backward pass.
public func maxPool2dForward(_ shape: Pool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                             argmax: UnsafeMutablePointer<Int32>, parallelism: Parallelism) {
    shape.validate()
    let (h, w, p, q) = (shape.height, shape.width, shape.outHeight, shape.outWidth)
    let isPairwise = shape.kernel == 2 && shape.stride == 2 && shape.padding == 0
    parallelism.forEach(shape.planes, grain: max(1, 16384 / (h * w))) { plane in
        let x = input + plane * h * w, y = output + plane * p * q, idx = argmax + plane * p * q
        if isPairwise {
            maxPool2x2(x, width: w, rows: p, cols: q, output: y, argmax: idx)
            return
        }
        for oh in 0..<p {
            let h0 = oh * shape.stride - shape.padding
            for ow in 0..<q {
                let w0 = ow * shape.stride - shape.padding
                // As PyTorch: start at the window's first index, take a larger value or a NaN.
                var best = -Float.infinity, bestIndex = max(0, h0) * w + max(0, w0)
                for ih in max(0, h0)..<min(h, h0 + shape.kernel) {
                    for iw in max(0, w0)..<min(w, w0 + shape.kernel) {
                        let v = x[ih * w + iw]
                        if v > best || v.isNaN { best = v; bestIndex = ih * w + iw }
                    }
                }
                y[oh * q + ow] = best
                idx[oh * q + ow] = Int32(bestIndex)
            }
        }
    }
}

/// The 2×2, stride 2 case of `maxPool2dForward` for one plane, with the same tie and NaN rules:
/// 16, 8 or 4 outputs at a time (planes of 14 or 7 columns are common), one at a time without
/// branches only in rows of fewer than 4. Even and odd columns of the two input rows are split
/// into vectors and compared in the generic loop's order (top-left, top-right, bottom-left,
/// bottom-right).
@inline(__always)
private func maxPool2x2(_ x: UnsafePointer<Float>, width w: Int, rows p: Int, cols q: Int,
                       output y: UnsafeMutablePointer<Float>, argmax idx: UnsafeMutablePointer<Int32>) {
    let lanes = SIMD16<Int32>(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
    for oh in 0..<p {
        let top = x + 2 * oh * w, bottom = top + w
        let topIndex = Int32(2 * oh * w), bottomIndex = Int32((2 * oh + 1) * w)
        let (y, idx) = (y + oh * q, idx + oh * q)
        @inline(__always) func windows(at ow: Int, _ t: SIMD32<Float>, _ b: SIMD32<Float>) -> (SIMD16<Float>, SIMD16<Int32>) {
            maxOfFour(t.evenHalf, t.oddHalf, b.evenHalf, b.oddHalf, column: lanes &+ Int32(2 * ow), top: topIndex, bottom: bottomIndex)
        }
        @inline(__always) func sixteen(at ow: Int) {
            let (best, index) = windows(at: ow, UnsafeRawPointer(top + 2 * ow).loadUnaligned(as: SIMD32<Float>.self),
                                        UnsafeRawPointer(bottom + 2 * ow).loadUnaligned(as: SIMD32<Float>.self))
            UnsafeMutableRawPointer(y + ow).storeBytes(of: best, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(idx + ow).storeBytes(of: index, as: SIMD16<Int32>.self)
        }
        // 8 and 4 windows: the same vectors, with the inputs repeated in the unused lanes.
        @inline(__always) func eight(at ow: Int) {
            let t = UnsafeRawPointer(top + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
            let b = UnsafeRawPointer(bottom + 2 * ow).loadUnaligned(as: SIMD16<Float>.self)
            let (best, index) = windows(at: ow, SIMD32(lowHalf: t, highHalf: t), SIMD32(lowHalf: b, highHalf: b))
            UnsafeMutableRawPointer(y + ow).storeBytes(of: best.lowHalf, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(idx + ow).storeBytes(of: index.lowHalf, as: SIMD8<Int32>.self)
        }
        @inline(__always) func four(at ow: Int) {
            let t = UnsafeRawPointer(top + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(bottom + 2 * ow).loadUnaligned(as: SIMD8<Float>.self)
            let (t2, b2) = (SIMD16(lowHalf: t, highHalf: t), SIMD16(lowHalf: b, highHalf: b))
            let (best, index) = windows(at: ow, SIMD32(lowHalf: t2, highHalf: t2), SIMD32(lowHalf: b2, highHalf: b2))
            UnsafeMutableRawPointer(y + ow).storeBytes(of: best.lowHalf.lowHalf, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(idx + ow).storeBytes(of: index.lowHalf.lowHalf, as: SIMD4<Int32>.self)
        }
        // Each group reads 2·(its windows) floats of both rows from 2·ow, within the row since
        // ow + windows ≤ q and 2q ≤ w. The windows a row's last group does not fill are taken by
        // one more group ending at q, overlapping the one before (those windows written again,
        // alike): rows of 14 and 7 windows (28x28 and 14x14 planes) take two groups each.
        var ow = 0
        if q >= 16 {
            while ow + 16 <= q { sixteen(at: ow); ow += 16 }
            if ow < q { sixteen(at: q - 16) }
            ow = q
        } else if q >= 8 {
            eight(at: 0)
            if q > 8 { eight(at: q - 8) }
            ow = q
        } else if q >= 4 {
            four(at: 0)
            if q > 4 { four(at: q - 4) }
            ow = q
        }
        while ow < q {
            let i = 2 * ow
            var best = top[i], bestIndex = Int32(2 * oh * w + i)
            func challenge(_ value: Float, _ at: Int) {
                let wins = value > best || value != value  // larger, or NaN
                best = wins ? value : best
                bestIndex = wins ? Int32(at) : bestIndex
            }
            challenge(top[i + 1], 2 * oh * w + i + 1)
            challenge(bottom[i], (2 * oh + 1) * w + i)
            challenge(bottom[i + 1], (2 * oh + 1) * w + i + 1)
            y[ow] = best
            idx[ow] = bestIndex
            ow += 1
        }
    }
}

/// Sixteen 2×2 windows: the largest of four candidates (the first of equals; a NaN wins) and its
/// index in the plane.
@inline(__always)
private func maxOfFour(_ topEven: SIMD16<Float>, _ topOdd: SIMD16<Float>, _ bottomEven: SIMD16<Float>, _ bottomOdd: SIMD16<Float>,
                       column: SIMD16<Int32>, top: Int32, bottom: Int32) -> (SIMD16<Float>, SIMD16<Int32>) {
    // A pure function, not a closure over `best` and `index`: as a closure the compiler kept it
    // out of line and passed the two through memory at every call (perf: 2% of a smallnet
    // k = 32 step in it).
    var (best, index) = (topEven, column &+ top)
    (best, index) = challenge(best, index, topOdd, column &+ (top + 1))
    (best, index) = challenge(best, index, bottomEven, column &+ bottom)
    (best, index) = challenge(best, index, bottomOdd, column &+ (bottom + 1))
    return (best, index)
}

/// The winner of `best` and `value`, lane by lane: `value` where it is larger or NaN.
@inline(__always)
private func challenge(_ best: SIMD16<Float>, _ index: SIMD16<Int32>, _ value: SIMD16<Float>, _ at: SIMD16<Int32>) -> (SIMD16<Float>, SIMD16<Int32>) {
    let wins = (value .> best) .| (value .!= value)
    return (best.replacing(with: value, where: wins), index.replacing(with: at, where: wins))
}

/// gradInput[argmax] += gradOutput, per plane; with `accumulate` false, each plane of gradInput
/// is zeroed first (on the threads, plane by plane, while it is in the cache).
public func maxPool2dBackward(_ shape: Pool2DShape, gradOutput: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                              gradInput: UnsafeMutablePointer<Float>, accumulate: Bool = true, parallelism: Parallelism) {
    shape.validate()
    let (hw, pq) = (shape.height * shape.width, shape.outHeight * shape.outWidth)
    parallelism.forEach(shape.planes, grain: max(1, 16384 / hw)) { plane in
        let dy = gradOutput + plane * pq, idx = argmax + plane * pq, dx = gradInput + plane * hw
        if !accumulate { dx.update(repeating: 0, count: hw) }
        for i in 0..<pq { dx[Int(idx[i])] += dy[i] }
    }
}

/// output = mean over each window, padding counted as zeros (PyTorch's count_include_pad=True).
public func avgPool2dForward(_ shape: Pool2DShape, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                             parallelism: Parallelism) {
    shape.validate()
    let (h, w, p, q) = (shape.height, shape.width, shape.outHeight, shape.outWidth)
    parallelism.forEach(shape.planes, grain: max(1, 16384 / (h * w))) { plane in
        let x = input + plane * h * w, y = output + plane * p * q
        for oh in 0..<p {
            for ow in 0..<q {
                let (h0, w0, divisor) = avgWindow(shape, oh, ow)
                var sum: Float = 0
                for ih in max(0, h0)..<min(h, h0 + shape.kernel) {
                    for iw in max(0, w0)..<min(w, w0 + shape.kernel) { sum += x[ih * w + iw] }
                }
                y[oh * q + ow] = sum / divisor
            }
        }
    }
}

/// gradInput += gradOutput / window size, spread over each window.
public func avgPool2dBackward(_ shape: Pool2DShape, gradOutput: UnsafePointer<Float>, gradInput: UnsafeMutablePointer<Float>,
                              parallelism: Parallelism) {
    shape.validate()
    let (h, w, p, q) = (shape.height, shape.width, shape.outHeight, shape.outWidth)
    parallelism.forEach(shape.planes, grain: max(1, 16384 / (h * w))) { plane in
        let dy = gradOutput + plane * p * q, dx = gradInput + plane * h * w
        for oh in 0..<p {
            for ow in 0..<q {
                let (h0, w0, divisor) = avgWindow(shape, oh, ow)
                let g = dy[oh * q + ow] / divisor
                for ih in max(0, h0)..<min(h, h0 + shape.kernel) {
                    for iw in max(0, w0)..<min(w, w0 + shape.kernel) { dx[ih * w + iw] += g }
                }
            }
        }
    }
}

/// Top-left corner of window (oh, ow) and its divisor: the window clipped to the padded plane.
@inline(__always)
private func avgWindow(_ shape: Pool2DShape, _ oh: Int, _ ow: Int) -> (Int, Int, Float) {
    let h0 = oh * shape.stride - shape.padding, w0 = ow * shape.stride - shape.padding
    let rows = min(h0 + shape.kernel, shape.height + shape.padding) - h0
    let cols = min(w0 + shape.kernel, shape.width + shape.padding) - w0
    return (h0, w0, Float(rows * cols))
}

/// output[plane] = mean of the plane's H·W values (N×C×H×W → N×C).
public func globalAvgPoolForward(planes: Int, planeSize: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                 parallelism: Parallelism) {
    precondition(planes >= 0 && planeSize > 0, "globalAvgPool: planeSize must be positive")
    parallelism.forEach(planes, grain: max(1, 16384 / planeSize)) { plane in
        output[plane] = vectorSum(input + plane * planeSize, planeSize) / Float(planeSize)
    }
}

/// gradInput[plane][i] += gradOutput[plane] / (H·W).
public func globalAvgPoolBackward(planes: Int, planeSize: Int, gradOutput: UnsafePointer<Float>,
                                  gradInput: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    precondition(planes >= 0 && planeSize > 0, "globalAvgPool: planeSize must be positive")
    parallelism.forEach(planes, grain: max(1, 16384 / planeSize)) { plane in
        let g = gradOutput[plane] / Float(planeSize), dx = gradInput + plane * planeSize
        for i in 0..<planeSize { dx[i] += g }
    }
}
