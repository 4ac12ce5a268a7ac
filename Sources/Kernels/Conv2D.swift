// 2-D convolution (cross-correlation, as in PyTorch) by im2col + SGEMM.
// Shape letters: N batch, C input channels, H×W input, K output channels (filters),
// R×S filter, P×Q output. Tensors are NCHW; weights K×C×R×S; bias K.
//
// Forward, per image: Y_n (K × PQ) = W (K × CRS) · cols_n (CRS × PQ) + bias.
// Backward to the input, per image: dcols = Wᵀ · dY_n, then col2im adds it into dX_n.
// Backward to the weights: dW += Σ_n dY_n · cols_nᵀ; each thread sums a contiguous range of
// images into its own partial, and the partials are added in thread order (so dW is bitwise
// reproducible for a thread count, and equal across thread counts up to rounding).
// Backward functions add into their gradient buffers.

/// The geometry of one convolution.
public struct Conv2DShape: Sendable, Equatable {
    public var batch: Int, inChannels: Int, height: Int, width: Int
    public var outChannels: Int, kernelHeight: Int, kernelWidth: Int
    public var strideH: Int, strideW: Int, padH: Int, padW: Int, dilationH: Int, dilationW: Int

    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelHeight: Int, kernelWidth: Int, strideH: Int = 1, strideW: Int = 1,
                padH: Int = 0, padW: Int = 0, dilationH: Int = 1, dilationW: Int = 1) {
        (self.batch, self.inChannels, self.height, self.width) = (batch, inChannels, height, width)
        (self.outChannels, self.kernelHeight, self.kernelWidth) = (outChannels, kernelHeight, kernelWidth)
        (self.strideH, self.strideW, self.padH, self.padW) = (strideH, strideW, padH, padW)
        (self.dilationH, self.dilationW) = (dilationH, dilationW)
    }

    /// Square filter, equal stride, padding and dilation on both axes.
    public init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
                kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        self.init(batch: batch, inChannels: inChannels, height: height, width: width, outChannels: outChannels,
                  kernelHeight: kernelSize, kernelWidth: kernelSize, strideH: stride, strideW: stride,
                  padH: padding, padW: padding, dilationH: dilation, dilationW: dilation)
    }

    /// P, rows of the output.
    public var outHeight: Int { (height + 2 * padH - dilationH * (kernelHeight - 1) - 1) / strideH + 1 }
    /// Q, columns of the output.
    public var outWidth: Int { (width + 2 * padW - dilationW * (kernelWidth - 1) - 1) / strideW + 1 }
    /// C·R·S, the length of one filter and the rows of the im2col matrix.
    public var filterSize: Int { inChannels * kernelHeight * kernelWidth }
    public var inputCount: Int { batch * inChannels * height * width }
    public var outputCount: Int { batch * outChannels * outHeight * outWidth }
    public var weightCount: Int { outChannels * filterSize }
    /// Multiply-adds ×2 of the forward pass (each backward pass costs the same).
    public var forwardFlops: Double { 2 * Double(batch) * Double(outChannels) * Double(filterSize) * Double(outHeight * outWidth) }

    /// A 1×1 filter with stride 1 and no padding reads the input as the im2col matrix itself.
    var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0 }

    func validate() {
        precondition(batch >= 0 && inChannels > 0 && outChannels > 0 && height > 0 && width > 0,
                     "conv2d: sizes must be positive: \(self)")
        precondition(kernelHeight > 0 && kernelWidth > 0 && strideH > 0 && strideW > 0 && dilationH > 0 && dilationW > 0
                     && padH >= 0 && padW >= 0, "conv2d: filter geometry must be positive: \(self)")
        precondition(outHeight > 0 && outWidth > 0, "conv2d: the filter does not fit the padded input: \(self)")
    }
}

/// output (N×K×P×Q) = conv(input (N×C×H×W), weight (K×C×R×S)) + bias (K, optional).
public func conv2dForward(_ shape: Conv2DShape, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    shape.validate()
    let (inPlane, outPlane, crs) = (shape.inChannels * shape.height * shape.width, shape.outHeight * shape.outWidth, shape.filterSize)
    forEachImage(shape, parallelism, scratch: shape.isPointwise ? 0 : crs * outPlane) { n, cols, gemmParallelism in
        let x = input + n * inPlane, y = output + n * shape.outChannels * outPlane
        let b: UnsafePointer<Float>
        if shape.isPointwise { b = x } else { im2col(shape, image: x, cols: cols); b = UnsafePointer(cols) }
        sgemm(.none, .none, m: shape.outChannels, n: outPlane, k: crs, alpha: 1, a: weight, lda: crs,
              b: b, ldb: outPlane, beta: 0, c: y, ldc: outPlane, parallelism: gemmParallelism)
        if let bias {
            for k in 0..<shape.outChannels {
                let row = y + k * outPlane, value = bias[k]
                for i in 0..<outPlane { row[i] += value }
            }
        }
    }
}

/// gradInput (N×C×H×W) += ∂L/∂input, from gradOutput (N×K×P×Q) and weight (K×C×R×S).
public func conv2dBackwardInput(_ shape: Conv2DShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                gradInput: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    shape.validate()
    let (inPlane, outPlane, crs) = (shape.inChannels * shape.height * shape.width, shape.outHeight * shape.outWidth, shape.filterSize)
    forEachImage(shape, parallelism, scratch: shape.isPointwise ? 0 : crs * outPlane) { n, cols, gemmParallelism in
        let dy = gradOutput + n * shape.outChannels * outPlane, dx = gradInput + n * inPlane
        if shape.isPointwise {
            sgemm(.transposed, .none, m: crs, n: outPlane, k: shape.outChannels, alpha: 1, a: weight, lda: crs,
                  b: dy, ldb: outPlane, beta: 1, c: dx, ldc: outPlane, parallelism: gemmParallelism)
        } else {
            sgemm(.transposed, .none, m: crs, n: outPlane, k: shape.outChannels, alpha: 1, a: weight, lda: crs,
                  b: dy, ldb: outPlane, beta: 0, c: cols, ldc: outPlane, parallelism: gemmParallelism)
            col2imAdd(shape, cols: cols, image: dx)
        }
    }
}

/// gradWeight (K×C×R×S) += ∂L/∂weight and gradBias (K, optional) += ∂L/∂bias.
public func conv2dBackwardWeights(_ shape: Conv2DShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
                                  parallelism: Parallelism) {
    shape.validate()
    let (inPlane, outPlane, crs, outChannels) = (shape.inChannels * shape.height * shape.width,
                                                 shape.outHeight * shape.outWidth, shape.filterSize, shape.outChannels)
    if let gradBias {
        parallelism.forEach(outChannels, grain: max(1, 4096 / max(1, shape.batch * outPlane))) { k in
            var sum: Float = 0
            for n in 0..<shape.batch {
                let row = gradOutput + (n * outChannels + k) * outPlane
                for i in 0..<outPlane { sum += row[i] }
            }
            gradBias[k] += sum
        }
    }
    let workers = min(parallelism.threads, shape.batch)
    guard workers > 0 else { return }
    if workers == 1 {
        // One pass over the batch; the GEMM itself may use every thread.
        ScratchBuffers.with(floats: shape.isPointwise ? 0 : crs * outPlane) { cols in
            for n in 0..<shape.batch {
                weightGradientOfImage(shape, input: input + n * inPlane, gradOutput: gradOutput + n * outChannels * outPlane,
                                      cols: cols, into: gradWeight, parallelism: parallelism)
            }
        }
        return
    }
    let count = shape.weightCount
    ScratchBuffers.with(floats: workers * count) { partials in
        partials.update(repeating: 0, count: workers * count)
        DispatchQueueConcurrency.perform(workers) { worker in
            ScratchBuffers.with(floats: shape.isPointwise ? 0 : crs * outPlane) { cols in
                for n in Parallelism.range(worker, of: workers, in: shape.batch) {
                    weightGradientOfImage(shape, input: input + n * inPlane, gradOutput: gradOutput + n * outChannels * outPlane,
                                          cols: cols, into: partials + worker * count, parallelism: .serial)
                }
            }
        }
        parallelism.forEachRange(count, grain: 1 << 14) { range in
            for worker in 0..<workers {
                let partial = partials + worker * count
                for i in range { gradWeight[i] += partial[i] }
            }
        }
    }
}

/// dW += dY_n · cols_nᵀ for one image.
private func weightGradientOfImage(_ shape: Conv2DShape, input x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                   cols: UnsafeMutablePointer<Float>, into gradWeight: UnsafeMutablePointer<Float>,
                                   parallelism: Parallelism) {
    let (outPlane, crs) = (shape.outHeight * shape.outWidth, shape.filterSize)
    let b: UnsafePointer<Float>
    if shape.isPointwise { b = x } else { im2col(shape, image: x, cols: cols); b = UnsafePointer(cols) }
    sgemm(.none, .transposed, m: shape.outChannels, n: crs, k: outPlane, alpha: 1, a: dy, lda: outPlane,
          b: b, ldb: outPlane, beta: 1, c: gradWeight, ldc: crs, parallelism: parallelism)
}

/// Runs `body(n, scratch, gemmParallelism)` for every image: images spread over the threads
/// (each GEMM serial) when there are enough of them, else one image at a time with a parallel
/// GEMM. Either way each image's result is computed in the same order.
private func forEachImage(_ shape: Conv2DShape, _ parallelism: Parallelism, scratch: Int,
                          _ body: (Int, UnsafeMutablePointer<Float>, Parallelism) -> Void) {
    if shape.batch >= parallelism.threads {
        parallelism.forEachRange(shape.batch) { images in
            ScratchBuffers.with(floats: scratch) { cols in
                for n in images { body(n, cols, .serial) }
            }
        }
    } else {
        ScratchBuffers.with(floats: scratch) { cols in
            for n in 0..<shape.batch { body(n, cols, parallelism) }
        }
    }
}

/// cols ((C·R·S) × (P·Q)): row (c, r, s) holds input[c][p·stride − pad + r·dilation][q·stride − pad + s·dilation], 0 outside.
func im2col(_ shape: Conv2DShape, image: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>) {
    let (h, w, p, q) = (shape.height, shape.width, shape.outHeight, shape.outWidth)
    var row = cols
    for c in 0..<shape.inChannels {
        let plane = image + c * h * w
        for r in 0..<shape.kernelHeight {
            for s in 0..<shape.kernelWidth {
                let (qLow, qHigh) = validOutputRange(offset: s * shape.dilationW - shape.padW, stride: shape.strideW, input: w, output: q)
                for oh in 0..<p {
                    let out = row + oh * q
                    let ih = oh * shape.strideH - shape.padH + r * shape.dilationH
                    guard ih >= 0 && ih < h && qLow < qHigh else {
                        out.update(repeating: 0, count: q)
                        continue
                    }
                    if qLow > 0 { out.update(repeating: 0, count: qLow) }
                    let src = plane + ih * w + s * shape.dilationW - shape.padW
                    if shape.strideW == 1 {
                        (out + qLow).update(from: src + qLow, count: qHigh - qLow)
                    } else {
                        for ow in qLow..<qHigh { out[ow] = src[ow * shape.strideW] }
                    }
                    if qHigh < q { (out + qHigh).update(repeating: 0, count: q - qHigh) }
                }
                row += p * q
            }
        }
    }
}

/// The adjoint of `im2col`: image[c][ih][iw] += every cols entry that was read from it.
func col2imAdd(_ shape: Conv2DShape, cols: UnsafePointer<Float>, image: UnsafeMutablePointer<Float>) {
    let (h, w, p, q) = (shape.height, shape.width, shape.outHeight, shape.outWidth)
    var row = cols
    for c in 0..<shape.inChannels {
        let plane = image + c * h * w
        for r in 0..<shape.kernelHeight {
            for s in 0..<shape.kernelWidth {
                let (qLow, qHigh) = validOutputRange(offset: s * shape.dilationW - shape.padW, stride: shape.strideW, input: w, output: q)
                for oh in 0..<p {
                    let ih = oh * shape.strideH - shape.padH + r * shape.dilationH
                    guard ih >= 0 && ih < h else { continue }
                    let src = row + oh * q
                    let dst = plane + ih * w + s * shape.dilationW - shape.padW
                    if shape.strideW == 1 {
                        for ow in qLow..<qHigh { dst[ow] += src[ow] }
                    } else {
                        for ow in qLow..<qHigh { dst[ow * shape.strideW] += src[ow] }
                    }
                }
                row += p * q
            }
        }
    }
}

/// The output columns `qLow..<qHigh` whose input column `q·stride + offset` lies in `0..<input`.
@inline(__always)
private func validOutputRange(offset: Int, stride: Int, input: Int, output: Int) -> (Int, Int) {
    // q·stride + offset ≥ 0  ⇔  q ≥ ceil(−offset / stride);  q·stride + offset < input ⇔ q < ceil((input − offset) / stride)
    let low = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let high = input - offset <= 0 ? 0 : (input - offset + stride - 1) / stride
    return (min(low, output), max(min(high, output), min(low, output)))
}
