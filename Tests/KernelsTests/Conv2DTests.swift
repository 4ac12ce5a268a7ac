import TestSupport
import XCTest
@testable import Kernels

final class Conv2DTests: XCTestCase {
    struct Result { var y: [Float]; var dx: [Float]; var dw: [Float]; var db: [Float] }

    /// Forward, then both backward passes with upstream gradient g.
    func convolve(_ s: Conv2DShape, x: [Float], w: [Float], b: [Float], g: [Float], threads: Int) -> Result {
        let par = Parallelism(threads: threads)
        var r = Result(y: [Float](repeating: 0, count: s.outputCount), dx: [Float](repeating: 0, count: s.inputCount),
                       dw: [Float](repeating: 0, count: s.weightCount), db: [Float](repeating: 0, count: s.outChannels))
        x.withPointer { px in w.withPointer { pw in b.withPointer { pb in g.withPointer { pg in
            r.y.withMutablePointer { conv2dForward(s, input: px, weight: pw, bias: pb, output: $0, parallelism: par) }
            r.dx.withMutablePointer { conv2dBackwardInput(s, gradOutput: pg, weight: pw, gradInput: $0, parallelism: par) }
            r.dw.withMutablePointer { pdw in r.db.withMutablePointer { pdb in
                conv2dBackwardWeights(s, input: px, gradOutput: pg, gradWeight: pdw, gradBias: pdb, parallelism: par)
            } }
        } } } }
        return r
    }

    let shapes: [Conv2DShape] = [
        Conv2DShape(batch: 1, inChannels: 1, height: 1, width: 1, outChannels: 1, kernelSize: 1),
        Conv2DShape(batch: 3, inChannels: 2, height: 7, width: 5, outChannels: 3, kernelSize: 3, padding: 1),
        Conv2DShape(batch: 2, inChannels: 3, height: 9, width: 8, outChannels: 5, kernelSize: 3, stride: 2, padding: 0, dilation: 2),
        Conv2DShape(batch: 5, inChannels: 4, height: 6, width: 6, outChannels: 7, kernelSize: 1),
        Conv2DShape(batch: 2, inChannels: 3, height: 11, width: 13, outChannels: 2, kernelHeight: 2, kernelWidth: 5,
                    strideH: 3, strideW: 2, padH: 1, padW: 2, dilationH: 1, dilationW: 2),
        Conv2DShape(batch: 4, inChannels: 5, height: 5, width: 3, outChannels: 37, kernelSize: 3, padding: 2),
        // Size-preserving shapes (im2col written into GEMM panels, ∂input as a convolution):
        // planes wider than a panel, one image per GEMM; many small images per GEMM, panels
        // straddling images; dilation; an even filter; offsets beyond the plane.
        Conv2DShape(batch: 3, inChannels: 3, height: 28, width: 28, outChannels: 5, kernelSize: 3, padding: 1),
        Conv2DShape(batch: 9, inChannels: 2, height: 4, width: 6, outChannels: 3, kernelSize: 3, padding: 1),
        Conv2DShape(batch: 2, inChannels: 2, height: 9, width: 7, outChannels: 3, kernelSize: 3, padding: 2, dilation: 2),
        Conv2DShape(batch: 2, inChannels: 2, height: 6, width: 5, outChannels: 2, kernelHeight: 2, kernelWidth: 5,
                    strideH: 1, strideW: 1, padH: 1, padW: 4, dilationH: 2, dilationW: 2),
        Conv2DShape(batch: 4, inChannels: 1, height: 1, width: 40, outChannels: 2, kernelSize: 3, padding: 1),
        Conv2DShape(batch: 2, inChannels: 1, height: 3, width: 3, outChannels: 2, kernelSize: 5, padding: 2),
        Conv2DShape(batch: 3, inChannels: 2, height: 2, width: 2, outChannels: 2, kernelSize: 3, padding: 3, dilation: 3),
        // Large size-preserving planes: the forward pass reads a zero-padded copy in place (with
        // AVX-512); filters not a multiple of the tile's rows, a 5x5 filter, dilation.
        Conv2DShape(batch: 2, inChannels: 2, height: 48, width: 44, outChannels: 13, kernelSize: 5, padding: 2),
        Conv2DShape(batch: 3, inChannels: 3, height: 44, width: 45, outChannels: 1, kernelSize: 3, padding: 2, dilation: 2),
        // Enough input channels that ∂input runs as the flipped-filter convolution on the padded copy.
        Conv2DShape(batch: 2, inChannels: 16, height: 28, width: 28, outChannels: 3, kernelSize: 3, padding: 1),
    ]

    func test_forward_awkwardGeometries_matchNaive() {
        var rng = TestRandom(seed: 10)
        for s in shapes {
            let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels)
            let r = convolve(s, x: x, w: w, b: b, g: [Float](repeating: 0, count: s.outputCount), threads: 2)
            assertClose(r.y, naiveConv2d(s, x: x, w: w, bias: b), "conv2d forward \(s)")
        }
    }

    /// The padded-input convolution with every gathered tile (the selected one alone runs in the
    /// tests above): AVX-512's 12x32 and 8x32 and AVX2's 6x16 where the CPU has them, on filter
    /// counts that fill the last panel and that leave it partly empty.
    func test_paddedInputConvolution_everyGatheredTile_matchesNaive() {
        var rng = TestRandom(seed: 12)
        let paddedShapes = shapes.filter { $0.preservesSize && !$0.isPointwise && $0.height * $0.width >= 28 * 28 }
        XCTAssertFalse(paddedShapes.isEmpty)
        for kernel in GemmKernel.everyTile() {
            guard let tile = kernel.gatheredTile else { continue }
            let suited = paddedShapes.filter { PaddedInputConvolution.suits($0, kernel: kernel) }
            XCTAssertGreaterThanOrEqual(suited.count, 3, "too few shapes exercise \(kernel)'s gathered tile")
            for base in suited {
                for filters in [base.outChannels, kernel.mr, 2 * kernel.mr + 3] {
                    var s = base
                    s.outChannels = filters
                    let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels)
                    var y = [Float](repeating: 0, count: s.outputCount)
                    let convolution = PaddedInputConvolution(s, kernel: kernel, tile: tile)
                    // Scratch of the size the two threads take, filled with NaN first (three
                    // buffers, in case the packed filters take one): the padded copy must write
                    // every float its reads reach (borders included).
                    let scratch = convolution.paddedFloats + convolution.filterRows * convolution.columns
                    ScratchBuffers.with(floats: scratch) { first in
                        ScratchBuffers.with(floats: scratch) { second in
                            ScratchBuffers.with(floats: scratch) { third in
                                for buffer in [first, second, third] { buffer.update(repeating: .nan, count: scratch) }
                            }
                        }
                    }
                    x.withPointer { px in w.withPointer { pw in b.withPointer { pb in y.withMutablePointer { py in
                        convolution.forward(input: px, weight: pw, bias: pb, output: py, parallelism: Parallelism(threads: 2))
                    } } } }
                    assertClose(y, naiveConv2d(s, x: x, w: w, bias: b), "padded-input conv2d with \(kernel) \(s)")
                }
            }
        }
    }

    /// Which tile height a row count takes: the one that pads it least, the taller on ties.
    func test_fittingRows_padsTheLeast() throws {
        guard GemmKernel.available().contains(where: { $0.name == "avx512" }) else {
            throw XCTSkip("this CPU has no AVX-512, so its 8- and 12-row tiles cannot be chosen between here")
        }
        XCTAssertEqual([32, 64, 36, 96, 24, 10, 7, 1].map { GemmKernel.avx512.fitting(rows: $0).mr }, [8, 8, 12, 12, 12, 12, 8, 8])
        XCTAssertEqual(GemmKernel.avx2.fitting(rows: 32).mr, 6)
    }

    /// The 16 ξ matrices of transformed patches and of products start in 16 different L1 sets
    /// (64-byte lines, 4 KiB to the set index's period) and stay 64-byte aligned, whatever their
    /// size: smallnet k = 128's 128 channels × 512 columns is exactly 256 KiB a matrix.
    func test_winogradPositionStride_separatesTheSixteenMatrices() {
        for count in [1, 15, 16, 1008, 1024, 1025, 128 * 512, 128 * 416, 256 * 448, 13 * 392 + 7] {
            let stride = WinogradConvolution.positionStride(count)
            XCTAssertGreaterThanOrEqual(stride, count)
            XCTAssertEqual(stride % 16, 0, "stride \(stride) for \(count) floats is not a whole number of 64-byte lines")
            let lines = Set((0..<16).map { ($0 * stride * 4 % 4096) / 64 })
            XCTAssertEqual(lines.count, 16, "the 16 matrices of \(count) floats share L1 sets at stride \(stride)")
        }
    }

    /// Shapes Winograd's F(2×2, 3×3) computes: odd and even planes (tiles that hang over the
    /// edge), one image and several per group.
    let winogradShapes = [Conv2DShape(batch: 3, inChannels: 5, height: 7, width: 6, outChannels: 4, kernelSize: 3, padding: 1),
                          Conv2DShape(batch: 1, inChannels: 2, height: 1, width: 1, outChannels: 3, kernelSize: 3, padding: 1),
                          Conv2DShape(batch: 2, inChannels: 3, height: 28, width: 28, outChannels: 13, kernelSize: 3, padding: 1),
                          Conv2DShape(batch: 40, inChannels: 4, height: 5, width: 9, outChannels: 2, kernelSize: 3, padding: 1),
                          // Rows of 7 and 5 whole tiles: the last four overlap the four before them.
                          Conv2DShape(batch: 2, inChannels: 3, height: 14, width: 14, outChannels: 5, kernelSize: 3, padding: 1),
                          Conv2DShape(batch: 1, inChannels: 2, height: 6, width: 11, outChannels: 3, kernelSize: 3, padding: 1)]

    /// Winograd's F(2×2, 3×3) against the direct convolution: `winogradShapes`, accumulation,
    /// every tile.
    func test_winograd_matchesNaive() {
        var rng = TestRandom(seed: 13)
        for kernel in GemmKernel.everyTile() {
            for s in winogradShapes {
                XCTAssertTrue(WinogradConvolution.computes(s))
                let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels)
                let before = rng.floats(s.outputCount)
                var y = before, sum = before
                x.withPointer { px in w.withPointer { pw in b.withPointer { pb in
                    y.withMutablePointer { py in
                        WinogradConvolution(s).forward(input: px, weight: pw, bias: pb, output: py, parallelism: Parallelism(threads: 2), kernel: kernel)
                    }
                    sum.withMutablePointer { py in
                        WinogradConvolution(s).forward(input: px, weight: pw, bias: pb, output: py, accumulate: true,
                                                       parallelism: Parallelism(threads: 2), kernel: kernel)
                    }
                } } }
                let expected = naiveConv2d(s, x: x, w: w, bias: b)
                assertClose(y, expected, atol: 1e-4, "Winograd conv2d with \(kernel) \(s)")
                assertClose(sum, zip(before, expected).map { $0 + $1 }, atol: 1e-4, "Winograd conv2d accumulating with \(kernel) \(s)")
            }
        }
    }

    /// ∂weights by F(2×2, 3×3) against the sum written out: odd and even planes (tiles hanging
    /// over the edge, where ∂output is zero), several groups, added to what the gradient held,
    /// every tile, one to three threads (each with its own partial sums).
    func test_winogradWeightGradient_matchesNaive() {
        var rng = TestRandom(seed: 16)
        for s in winogradShapes {
            let x = rng.floats(s.inputCount), g = rng.floats(s.outputCount), before = rng.floats(s.weightCount)
            let expected = zip(before, naiveConv2dWeightGradient(s, x: x, g: g)).map { $0 + $1 }
            for kernel in GemmKernel.everyTile() {
                for threads in 1...3 {
                    var dw = before
                    x.withPointer { px in g.withPointer { pg in dw.withMutablePointer { pdw in
                        WinogradConvolution(s).backwardWeights(input: px, gradOutput: pg, gradWeight: pdw,
                                                               parallelism: Parallelism(threads: threads), kernel: kernel)
                    } } }
                    assertClose(dw, expected, atol: 2e-3, "Winograd ∂weights with \(kernel), \(threads) threads, \(s)")
                }
            }
        }
    }

    /// The groups are sized to the threads (14×14, batch 50: 5 groups of 10 for one thread, 6 of
    /// 9 for two, so neither idles), and the grouping changes no bit of the output.
    func test_winogradGroups_followTheThreads_withoutChangingABit() {
        let s = Conv2DShape(batch: 50, inChannels: 3, height: 14, width: 14, outChannels: 5, kernelSize: 3, padding: 1)
        let winograd = WinogradConvolution(s)
        XCTAssertEqual(winograd.imagesPerGroup(threads: 1), 10)
        XCTAssertEqual(winograd.imagesPerGroup(threads: 2), 9)
        for threads in 1...4 {
            let groups = (s.batch + winograd.imagesPerGroup(threads: threads) - 1) / winograd.imagesPerGroup(threads: threads)
            XCTAssertEqual(groups % threads, 0, "\(groups) groups for \(threads) threads")
        }
        var rng = TestRandom(seed: 15)
        let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels)
        let outputs = [1, 2, 3].map { threads -> [Float] in
            var y = [Float](repeating: 0, count: s.outputCount)
            x.withPointer { px in w.withPointer { pw in b.withPointer { pb in y.withMutablePointer { py in
                winograd.forward(input: px, weight: pw, bias: pb, output: py, parallelism: Parallelism(threads: threads))
            } } } }
            return y
        }
        XCTAssertEqual(outputs[0], outputs[1])
        XCTAssertEqual(outputs[0], outputs[2])
    }

    /// With enough channels the forward pass, ∂input and ∂weights go through Winograd; each still
    /// matches the direct convolution and its gradient.
    func test_winogradShapes_forwardAndInputGradient_matchNaive() {
        var rng = TestRandom(seed: 14)
        let line = WinogradConvolution.minimumChannels(.selected)
        let s = Conv2DShape(batch: 2, inChannels: line, height: 6, width: 4, outChannels: line + 3, kernelSize: 3, padding: 1)
        XCTAssertTrue(WinogradConvolution.suits(s, kernel: .selected) && WinogradConvolution.suits(s.inputGradientShape, kernel: .selected))
        let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels), g = rng.floats(s.outputCount)
        let r = convolve(s, x: x, w: w, b: b, g: g, threads: 2)
        assertClose(r.y, naiveConv2d(s, x: x, w: w, bias: b), atol: 1e-3, "Winograd-sized conv2d forward")
        // ∂input[n][c][i][j] = Σ_k Σ_r Σ_s g[n][k][i − r + 1][j − s + 1]·w[k][c][r][s].
        var dx = [Float](repeating: 0, count: s.inputCount)
        for n in 0..<s.batch { for c in 0..<s.inChannels { for i in 0..<s.height { for j in 0..<s.width {
            var total = 0.0
            for k in 0..<s.outChannels { for rr in 0..<3 { for ss in 0..<3 {
                let (oi, oj) = (i - rr + 1, j - ss + 1)
                guard oi >= 0, oi < s.height, oj >= 0, oj < s.width else { continue }
                total += Double(g[((n * s.outChannels + k) * s.height + oi) * s.width + oj]) * Double(w[((k * s.inChannels + c) * 3 + rr) * 3 + ss])
            } } }
            dx[((n * s.inChannels + c) * s.height + i) * s.width + j] = Float(total)
        } } } }
        assertClose(r.dx, dx, atol: 1e-3, "Winograd-sized conv2d ∂input")
        assertClose(r.dw, naiveConv2dWeightGradient(s, x: x, g: g), atol: 1e-3, "Winograd-sized conv2d ∂weights")
    }

    /// The forward pass's and ∂input's channel line per tile: 64 for AVX-512's 32-column tiles,
    /// 32 for the 16-column ones.
    func test_winogradChannelLine_dependsOnTheTileWidth() {
        XCTAssertEqual([GemmKernel.avx512, .avx512.largeCacheBlocking(), .avx2, .portable].map(WinogradConvolution.minimumChannels),
                       [64, 64, 32, 32])
        let s = Conv2DShape(batch: 1, inChannels: 32, height: 28, width: 28, outChannels: 64, kernelSize: 3, padding: 1)
        XCTAssertTrue(WinogradConvolution.suits(s, kernel: .avx2))
        XCTAssertFalse(WinogradConvolution.suits(s, kernel: .avx512))
    }

    /// Between 32 and 64 channels, with AVX-512's tiles, only ∂weights goes through Winograd
    /// (forward and ∂input stay direct; with the 16-column tiles they go through it too); on odd
    /// sides none of it does. ∂weights matches its definition with the tile this CPU selects.
    func test_winogradWeightGradientOnly_atThirtyTwoChannels_matchesNaive() {
        var rng = TestRandom(seed: 15)
        let c = WinogradConvolution.minimumWeightGradientChannels
        let even = Conv2DShape(batch: 2, inChannels: c, height: 6, width: 8, outChannels: c + 5, kernelSize: 3, padding: 1)
        let odd = Conv2DShape(batch: 2, inChannels: c, height: 7, width: 7, outChannels: c, kernelSize: 3, padding: 1)
        XCTAssertTrue(WinogradConvolution.suitsWeightGradient(even) && !WinogradConvolution.suits(even, kernel: .avx512))
        XCTAssertFalse(WinogradConvolution.suitsWeightGradient(odd))
        XCTAssertFalse(WinogradConvolution.suitsWeightGradient(Conv2DShape(batch: 2, inChannels: c - 1, height: 6, width: 6,
                                                                           outChannels: c, kernelSize: 3, padding: 1)))
        for s in [even, odd] {
            let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels), g = rng.floats(s.outputCount)
            let r = convolve(s, x: x, w: w, b: b, g: g, threads: 2)
            assertClose(r.dw, naiveConv2dWeightGradient(s, x: x, g: g), atol: 1e-3, "conv2d ∂weights \(s)")
        }
    }

    func test_backward_awkwardGeometries_matchFiniteDifferences() {
        var rng = TestRandom(seed: 11)
        for s in shapes {
            let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels)
            let g = rng.floats(s.outputCount)
            let r = convolve(s, x: x, w: w, b: b, g: g, threads: 2)
            let lossOfX = { (x: [Float]) in weightedSum(naiveConv2d(s, x: x, w: w, bias: b), g) }
            let lossOfW = { (w: [Float]) in weightedSum(naiveConv2d(s, x: x, w: w, bias: b), g) }
            let lossOfB = { (b: [Float]) in weightedSum(naiveConv2d(s, x: x, w: w, bias: b), g) }
            let ix = sampleIndices(x.count), iw = sampleIndices(w.count), ib = sampleIndices(b.count)
            assertClose(ix.map { r.dx[$0] }, numericGradient(x, indices: ix, lossOfX), atol: 2e-3, rtol: 2e-3, "conv2d ∂x \(s)")
            assertClose(iw.map { r.dw[$0] }, numericGradient(w, indices: iw, lossOfW), atol: 2e-3, rtol: 2e-3, "conv2d ∂w \(s)")
            assertClose(ib.map { r.db[$0] }, numericGradient(b, indices: ib, lossOfB), atol: 2e-3, rtol: 2e-3, "conv2d ∂b \(s)")
        }
    }

    func test_threadCounts_giveTheSameResult() {
        var rng = TestRandom(seed: 12)
        let s = Conv2DShape(batch: 5, inChannels: 3, height: 10, width: 9, outChannels: 6, kernelSize: 3, padding: 1)
        let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), b = rng.floats(s.outChannels), g = rng.floats(s.outputCount)
        let one = convolve(s, x: x, w: w, b: b, g: g, threads: 1)
        for threads in [2, 3, 7] {
            let many = convolve(s, x: x, w: w, b: b, g: g, threads: threads)
            XCTAssertEqual(one.y, many.y, "forward, \(threads) threads")
            XCTAssertEqual(one.dx, many.dx, "∂x, \(threads) threads")
            XCTAssertEqual(one.db, many.db, "∂b, \(threads) threads")
            // ∂w sums per-thread partials: equal up to rounding only.
            assertClose(many.dw, one.dw, atol: 1e-5, rtol: 1e-5, "∂w, \(threads) threads")
            XCTAssertEqual(many.dw, convolve(s, x: x, w: w, b: b, g: g, threads: threads).dw, "∂w repeated, \(threads) threads")
        }
    }

    func test_backward_addsIntoExistingGradients() {
        var rng = TestRandom(seed: 13)
        // Images grouped into one GEMM, one image per GEMM (28x28), ∂input as a convolution.
        for s in [Conv2DShape(batch: 2, inChannels: 2, height: 5, width: 5, outChannels: 3, kernelSize: 3, padding: 1),
                  Conv2DShape(batch: 2, inChannels: 2, height: 28, width: 28, outChannels: 3, kernelSize: 3, padding: 1),
                  Conv2DShape(batch: 2, inChannels: 16, height: 28, width: 28, outChannels: 3, kernelSize: 3, padding: 1)] {
            let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), g = rng.floats(s.outputCount)
            var dx = [Float](repeating: 1, count: s.inputCount), dw = [Float](repeating: 1, count: s.weightCount)
            x.withPointer { px in w.withPointer { pw in g.withPointer { pg in
                dx.withMutablePointer { conv2dBackwardInput(s, gradOutput: pg, weight: pw, gradInput: $0, parallelism: .serial) }
                dw.withMutablePointer { conv2dBackwardWeights(s, input: px, gradOutput: pg, gradWeight: $0, gradBias: nil, parallelism: .serial) }
            } } }
            let fresh = convolve(s, x: x, w: w, b: [0, 0, 0], g: g, threads: 1)
            assertClose(dx, fresh.dx.map { $0 + 1 }, "∂x accumulates")
            assertClose(dw, fresh.dw.map { $0 + 1 }, "∂w accumulates")
        }
    }

    /// Without accumulating, ∂input overwrites what the buffer held (NaN here) on every path: im2col
    /// with a whole-plane shift, im2col with col2im, the padded-input convolution, Winograd.
    func test_backwardInput_withoutAccumulating_overwritesTheBuffer() {
        var rng = TestRandom(seed: 17)
        let line = WinogradConvolution.minimumChannels(.selected)
        for s in [Conv2DShape(batch: 2, inChannels: 2, height: 5, width: 5, outChannels: 3, kernelSize: 3, padding: 1),
                  Conv2DShape(batch: 2, inChannels: 3, height: 9, width: 8, outChannels: 5, kernelSize: 3, stride: 2, padding: 0, dilation: 2),
                  Conv2DShape(batch: 2, inChannels: 16, height: 28, width: 28, outChannels: 3, kernelSize: 3, padding: 1),
                  Conv2DShape(batch: 2, inChannels: line, height: 6, width: 4, outChannels: line + 3, kernelSize: 3, padding: 1)] {
            let x = rng.floats(s.inputCount), w = rng.floats(s.weightCount), g = rng.floats(s.outputCount)
            var dx = [Float](repeating: .nan, count: s.inputCount)
            w.withPointer { pw in g.withPointer { pg in dx.withMutablePointer {
                conv2dBackwardInput(s, gradOutput: pg, weight: pw, gradInput: $0, accumulate: false, parallelism: Parallelism(threads: 2))
            } } }
            let fresh = convolve(s, x: x, w: w, b: [Float](repeating: 0, count: s.outChannels), g: g, threads: 2)
            assertClose(dx, fresh.dx, "∂x written, \(s)")
        }
    }

    func test_torchReference_bothConfigurations() throws {
        for name in ["conv2d_s1p1", "conv2d_s2p0d2"] {
            let ref = try TorchReference.load(name)
            let xs = ref.shape("x"), ws = ref.shape("weight")
            let stride = (ref.settings["stride"] as! NSNumber).intValue, padding = (ref.settings["padding"] as! NSNumber).intValue
            let dilation = (ref.settings["dilation"] as! NSNumber).intValue
            let s = Conv2DShape(batch: xs[0], inChannels: xs[1], height: xs[2], width: xs[3], outChannels: ws[0],
                                kernelSize: ws[2], stride: stride, padding: padding, dilation: dilation)
            let r = convolve(s, x: ref["x"], w: ref["weight"], b: ref["bias"], g: ref["g"], threads: 2)
            assertClose(r.y, ref["out"], atol: 1e-4, "\(name) out")
            assertClose(r.dx, ref["grad_x"], atol: 1e-4, "\(name) grad_x")
            assertClose(r.dw, ref["grad_weight"], atol: 1e-4, "\(name) grad_weight")
            assertClose(r.db, ref["grad_bias"], atol: 1e-4, "\(name) grad_bias")
        }
    }
}
