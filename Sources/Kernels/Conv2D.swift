// 2-D convolution (cross-correlation, as in PyTorch) by im2col + SGEMM.
// Shape letters: N batch, C input channels, H×W input, K output channels (filters),
// R×S filter, P×Q output. Tensors are NCHW; weights K×C×R×S; bias K.
//
// Images are processed in groups of G consecutive ones (G = 1 for large planes; see
// `ImageGroups`), the group's im2col matrices side by side: cols_g is CRS × G·PQ.
// Forward: Y_g (K × G·PQ) = W (K × CRS) · cols_g, scattered to NCHW, plus bias.
// Backward to the input: dcols = Wᵀ · dY_g, then col2im adds it into each image of dX.
// Backward to the weights: dWᵀ += Σ_g cols_g · dY_gᵀ (C·R·S rows, so the register tile wastes
// no rows on narrow K); each thread sums a contiguous range of groups into its own partial,
// and the partials are added in thread order, transposed (so dW is bitwise reproducible for a
// thread count, and equal across thread counts up to rounding). Forward and backward-to-input
// are bitwise equal for any thread count.
// Size-preserving filters (stride 1, output as large as the input: the 3×3/padding-1 layers of
// the paper's networks) take a faster path: each im2col row is the input plane shifted by a
// constant, so im2col is one copy per row and image plus a few zeroed edge entries, written in
// the forward pass straight into the GEMM's B panels (no packing copy), and col2im is one
// shifted add per row and image (Conv2DShifted.swift). On large planes with AVX-512 the
// forward pass and ∂input skip im2col altogether (Conv2DPaddedInput.swift).
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

    /// Stride 1 with the output as large as the input ("same" padding, such as 3×3 with padding
    /// 1): each im2col row is the input plane shifted by a constant offset, with a few entries
    /// zeroed at the borders.
    var preservesSize: Bool { strideH == 1 && strideW == 1 && outHeight == height && outWidth == width }

    /// For a size-preserving shape, the convolution that maps ∂output to ∂input: from the K
    /// channels of ∂output to the C channels of ∂input, with the filters of `flippedFilters`.
    var inputGradientShape: Conv2DShape {
        Conv2DShape(batch: batch, inChannels: outChannels, height: outHeight, width: outWidth, outChannels: inChannels,
                    kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideH: 1, strideW: 1,
                    padH: dilationH * (kernelHeight - 1) - padH, padW: dilationW * (kernelWidth - 1) - padW,
                    dilationH: dilationH, dilationW: dilationW)
    }

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
    let kernel = GemmKernel.selected.fitting(rows: shape.outChannels)
    if WinogradConvolution.suits(shape, kernel: kernel) {
        WinogradConvolution(shape).forward(input: input, weight: weight, bias: bias, output: output, parallelism: parallelism,
                                           kernel: kernel)
        return
    }
    if let tile = kernel.gatheredTile, PaddedInputConvolution.suits(shape, kernel: kernel) {
        PaddedInputConvolution(shape, kernel: kernel, tile: tile)
            .forward(input: input, weight: weight, bias: bias, output: output, parallelism: parallelism)
        return
    }
    let plan = ImageGroups(shape, parallelism)
    let (outPlane, crs, outChannels) = (shape.outHeight * shape.outWidth, shape.filterSize, shape.outChannels)
    // Size-preserving filters write the im2col matrix straight into the GEMM's B panels.
    let intoPanels = shape.preservesSize && !shape.isPointwise
    let columnsFloats = { (columns: Int) in intoPanels ? crs * (columns + kernel.nr) : crs * columns }
    plan.forEachGroup(scratch: { columnsFloats($0) + outChannels * $0 }) { images, scratch, gemmParallelism in
        let columns = images.count * outPlane
        let y = output + images.lowerBound * outChannels * outPlane
        // One image: the GEMM writes its output plane directly; several: K × (G·P·Q) in
        // scratch, then scattered into NCHW.
        let direct = images.count == 1
        let product = direct ? y : scratch + columnsFloats(columns)
        if intoPanels {
            im2colShifted(shape, images: images, input: input, layout: .panels(nr: kernel.nr, rows: crs), into: scratch)
            sgemm(.none, m: outChannels, n: columns, k: crs, alpha: 1, a: weight, lda: crs, packedB: scratch,
                  beta: 0, c: product, ldc: columns, parallelism: gemmParallelism, kernel: kernel)
        } else {
            sgemm(.none, .none, m: outChannels, n: columns, k: crs, alpha: 1, a: weight, lda: crs,
                  b: plan.columns(of: images, input: input, into: scratch), ldb: columns,
                  beta: 0, c: product, ldc: columns, parallelism: gemmParallelism, kernel: kernel)
        }
        if !direct {
            for g in 0..<images.count {
                for k in 0..<outChannels {
                    (y + (g * outChannels + k) * outPlane).update(from: product + k * columns + g * outPlane, count: outPlane)
                }
            }
        }
        if let bias {
            for g in 0..<images.count {
                for k in 0..<outChannels {
                    let row = y + (g * outChannels + k) * outPlane, value = bias[k]
                    for i in 0..<outPlane { row[i] += value }
                }
            }
        }
    }
}

/// gradInput (N×C×H×W) += ∂L/∂input, from gradOutput (N×K×P×Q) and weight (K×C×R×S); with
/// `accumulate` false, gradInput = ∂L/∂input (what it held is not read: the size-preserving 3×3
/// paths write it whole, the others zero it first).
public func conv2dBackwardInput(_ shape: Conv2DShape, gradOutput: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                gradInput: UnsafeMutablePointer<Float>, accumulate: Bool = true, parallelism: Parallelism) {
    shape.validate()
    let kernel = GemmKernel.selected
    let transposed = shape.inputGradientShape
    if WinogradConvolution.suits(transposed, kernel: kernel) {
        // ∂input is a size-preserving convolution of ∂output (filters turned by 180°, channel
        // axes swapped; see below), here by Winograd's F(2×2, 3×3).
        ScratchBuffers.with(floats: shape.weightCount) { flipped in
            flippedFilters(shape, weight: weight, into: flipped)
            WinogradConvolution(transposed).forward(input: gradOutput, weight: flipped, bias: nil, output: gradInput,
                                                    accumulate: accumulate, parallelism: parallelism,
                                                    kernel: kernel.fitting(rows: transposed.outChannels))
        }
        return
    }
    let gatheredKernel = kernel.fitting(rows: transposed.outChannels)
    if let tile = gatheredKernel.gatheredTile, shape.inChannels >= 16, PaddedInputConvolution.suits(transposed, kernel: gatheredKernel) {
        // ∂input is itself a size-preserving convolution of ∂output (filters turned by 180°,
        // channel axes swapped), which on large planes needs neither im2col nor col2im.
        ScratchBuffers.with(floats: shape.weightCount) { flipped in
            flippedFilters(shape, weight: weight, into: flipped)
            PaddedInputConvolution(transposed, kernel: gatheredKernel, tile: tile)
                .forward(input: gradOutput, weight: flipped, bias: nil, output: gradInput, accumulate: accumulate, parallelism: parallelism)
        }
        return
    }
    if !accumulate { gradInput.update(repeating: 0, count: shape.inputCount) }
    let plan = ImageGroups(shape, parallelism)
    let (inPlane, outPlane, crs, outChannels) = (shape.inChannels * shape.height * shape.width, shape.outHeight * shape.outWidth,
                                                 shape.filterSize, shape.outChannels)
    if shape.preservesSize && !shape.isPointwise {
        // dcols = Wᵀ·dY, added back a whole plane shift per row (no per-output-row runs).
        plan.forEachGroup(scratch: { crs * $0 + ($0 > outPlane ? outChannels * $0 : 0) }) { images, scratch, gemmParallelism in
            let columns = images.count * outPlane
            let dy = plan.gradientRows(of: images, gradOutput: gradOutput, into: scratch + crs * columns)
            sgemm(.transposed, .none, m: crs, n: columns, k: outChannels, alpha: 1, a: weight, lda: crs,
                  b: dy, ldb: columns, beta: 0, c: scratch, ldc: columns, parallelism: gemmParallelism)
            col2imShiftedAdd(shape, images: images, cols: scratch, into: gradInput)
        }
        return
    }
    plan.forEachGroup(scratch: { crs * $0 + ($0 > outPlane ? outChannels * $0 : 0) }) { images, scratch, gemmParallelism in
        let columns = images.count * outPlane
        let dx = gradInput + images.lowerBound * inPlane
        let dy = plan.gradientRows(of: images, gradOutput: gradOutput, into: scratch + crs * columns)
        if images.count == 1 && shape.isPointwise {
            sgemm(.transposed, .none, m: crs, n: outPlane, k: outChannels, alpha: 1, a: weight, lda: crs,
                  b: dy, ldb: outPlane, beta: 1, c: dx, ldc: outPlane, parallelism: gemmParallelism)
            return
        }
        sgemm(.transposed, .none, m: crs, n: columns, k: outChannels, alpha: 1, a: weight, lda: crs,
              b: dy, ldb: columns, beta: 0, c: scratch, ldc: columns, parallelism: gemmParallelism)
        for g in 0..<images.count {
            col2imAdd(shape, cols: scratch + g * outPlane, ld: columns, image: dx + g * inPlane)
        }
    }
}

/// gradWeight (K×C×R×S) += ∂L/∂weight and gradBias (K, optional) += ∂L/∂bias.
public func conv2dBackwardWeights(_ shape: Conv2DShape, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                  gradWeight: UnsafeMutablePointer<Float>, gradBias: UnsafeMutablePointer<Float>?,
                                  parallelism: Parallelism) {
    shape.validate()
    let (outPlane, crs, outChannels) = (shape.outHeight * shape.outWidth, shape.filterSize, shape.outChannels)
    if let gradBias {
        parallelism.forEach(outChannels, grain: max(1, 4096 / max(1, shape.batch * outPlane))) { k in
            var sum: Float = 0
            for n in 0..<shape.batch { sum += vectorSum(gradOutput + (n * outChannels + k) * outPlane, outPlane) }
            gradBias[k] += sum
        }
    }
    if WinogradConvolution.suitsWeightGradient(shape) {
        WinogradConvolution(shape).backwardWeights(input: input, gradOutput: gradOutput, gradWeight: gradWeight, parallelism: parallelism,
                                                   kernel: GemmKernel.selected.fitting(rows: outChannels))
        return
    }
    let plan = ImageGroups(shape, parallelism)
    let scratch = { (columns: Int) in crs * columns + (columns > outPlane ? outChannels * columns : 0) }
    /// dWᵀ += cols_g · dY_gᵀ for one group of images: C·R·S rows of the tile (no padding rows
    /// for narrow K) and K columns.
    func accumulate(_ images: Range<Int>, _ buffer: UnsafeMutablePointer<Float>, into transposed: UnsafeMutablePointer<Float>,
                    _ gemmParallelism: Parallelism) {
        let columns = images.count * outPlane
        let cols = plan.columns(of: images, input: input, into: buffer)
        let dy = plan.gradientRows(of: images, gradOutput: gradOutput, into: buffer + crs * columns)
        sgemm(.none, .transposed, m: crs, n: outChannels, k: columns, alpha: 1, a: cols, lda: columns,
              b: dy, ldb: columns, beta: 1, c: transposed, ldc: outChannels, parallelism: gemmParallelism)
    }
    // Each thread sums its contiguous share of the groups into a partial dWᵀ of its own (with
    // few images, one partial and parallel GEMMs); the partials are added in thread order.
    let workers = plan.groupsRunInParallel ? parallelism.threads : 1
    let count = shape.weightCount
    ScratchBuffers.with(floats: workers * count) { partials in
        partials.update(repeating: 0, count: workers * count)
        if plan.groupsRunInParallel {
            DispatchQueueConcurrency.perform(workers) { worker in
                let groups = Parallelism.range(worker, of: workers, in: plan.groupCount)
                ScratchBuffers.with(floats: scratch(plan.largestGroup * outPlane)) { buffer in
                    for group in groups {
                        accumulate(plan.images(ofGroup: group), buffer, into: partials + worker * count, .serial)
                    }
                }
            }
        } else {
            plan.forEachGroup(scratch: scratch) { images, buffer, gemmParallelism in
                accumulate(images, buffer, into: partials, gemmParallelism)
            }
        }
        parallelism.forEach(outChannels, grain: max(1, 4096 / crs)) { k in
            let row = gradWeight + k * crs
            for worker in 0..<workers {
                let partial = partials + worker * count + k
                for i in 0..<crs { row[i] += partial[i * outChannels] }
            }
        }
    }
}

/// How a batch is cut into groups of consecutive images that share one GEMM.
///
/// A GEMM per image is efficient only when the output plane is wide; for small planes (14x14,
/// 7x7) G images are laid side by side in one im2col matrix of C·R·S × G·P·Q. The group count
/// is a multiple of the thread count when there are enough images, so threads get equal work;
/// with fewer images than threads, groups run one after another and each GEMM is parallel.
private struct ImageGroups {
    let shape: Conv2DShape
    let groupCount: Int
    let groupsRunInParallel: Bool
    let parallelism: Parallelism

    /// Columns a GEMM should have before grouping stops paying off.
    private static let targetColumns = 384

    init(_ shape: Conv2DShape, _ parallelism: Parallelism) {
        self.shape = shape
        self.parallelism = parallelism
        let batch = shape.batch, threads = parallelism.threads
        let perGroup = max(1, Self.targetColumns / max(1, shape.outHeight * shape.outWidth))
        if batch >= threads {
            let wanted = max(threads, (batch + perGroup - 1) / perGroup)
            groupCount = min(batch, (wanted + threads - 1) / threads * threads)
            groupsRunInParallel = threads > 1
        } else {
            groupCount = max(1, min(batch, (batch + perGroup - 1) / perGroup))
            groupsRunInParallel = false
        }
    }

    func images(ofGroup group: Int) -> Range<Int> { Parallelism.range(group, of: groupCount, in: shape.batch) }
    var largestGroup: Int { groupCount == 0 ? 0 : (shape.batch + groupCount - 1) / groupCount }

    /// Runs `body(images, scratch, gemmParallelism)` for every group, with scratch of
    /// `scratchFloats(G·P·Q)` floats.
    func forEachGroup(scratch scratchFloats: (Int) -> Int,
                      _ body: (Range<Int>, UnsafeMutablePointer<Float>, Parallelism) -> Void) {
        let floats = scratchFloats(largestGroup * shape.outHeight * shape.outWidth)
        if groupsRunInParallel {
            parallelism.forEachRange(groupCount) { groups in
                ScratchBuffers.with(floats: floats) { buffer in
                    for group in groups { body(images(ofGroup: group), buffer, .serial) }
                }
            }
        } else {
            ScratchBuffers.with(floats: floats) { buffer in
                for group in 0..<groupCount { body(images(ofGroup: group), buffer, parallelism) }
            }
        }
    }

    /// The im2col matrix (C·R·S) × (G·P·Q) of a group, written into `buffer`; for one image of
    /// a pointwise convolution, the input itself.
    func columns(of images: Range<Int>, input: UnsafePointer<Float>, into buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let inPlane = shape.inChannels * shape.height * shape.width, outPlane = shape.outHeight * shape.outWidth
        if images.count == 1 && shape.isPointwise { return input + images.lowerBound * inPlane }
        if shape.preservesSize {
            im2colShifted(shape, images: images, input: input, layout: .rows(ld: images.count * outPlane), into: buffer)
            return UnsafePointer(buffer)
        }
        for (g, n) in images.enumerated() {
            im2col(shape, image: input + n * inPlane, cols: buffer + g * outPlane, ld: images.count * outPlane)
        }
        return UnsafePointer(buffer)
    }

    /// The output gradient of a group as K × (G·P·Q): for one image, gradOutput itself;
    /// otherwise gathered into `buffer`.
    func gradientRows(of images: Range<Int>, gradOutput: UnsafePointer<Float>, into buffer: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        let (outPlane, outChannels) = (shape.outHeight * shape.outWidth, shape.outChannels)
        if images.count == 1 { return gradOutput + images.lowerBound * outChannels * outPlane }
        let columns = images.count * outPlane
        for (g, n) in images.enumerated() {
            for k in 0..<outChannels {
                (buffer + k * columns + g * outPlane).update(from: gradOutput + (n * outChannels + k) * outPlane, count: outPlane)
            }
        }
        return UnsafePointer(buffer)
    }
}

/// cols ((C·R·S) × (P·Q), row stride `ld`): row (c, r, s) holds
/// input[c][p·stride − pad + r·dilation][q·stride − pad + s·dilation], 0 outside.
func im2col(_ shape: Conv2DShape, image: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>, ld: Int) {
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
                row += ld
            }
        }
    }
}

/// The adjoint of `im2col`: image[c][ih][iw] += every cols entry that was read from it.
func col2imAdd(_ shape: Conv2DShape, cols: UnsafePointer<Float>, ld: Int, image: UnsafeMutablePointer<Float>) {
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
                        accumulateVectors(qLow..<qHigh, src, src, into: dst) { v, _ in v }
                    } else {
                        for ow in qLow..<qHigh { dst[ow * shape.strideW] += src[ow] }
                    }
                }
                row += ld
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
