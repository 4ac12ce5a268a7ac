// The convolution of size-preserving filters on large planes without an im2col matrix: the
// input copied once into zero-padded planes, read in place by the gathered register tile.
// Used by Conv2D.swift for the forward pass and (as the flipped-filter convolution) for ∂input.
// Shape letters as in Conv2D.swift.

/// The filters of `shape.inputGradientShape`: flipped[c][k][r][s] = weight[k][c][R−1−r][S−1−s].
/// (∂input[c][ih][iw] = Σ W[k][c][r][s]·∂output[k][ih − r·d + pad][iw − s·d + pad], a correlation
/// with the filter turned by 180° and padding d·(R−1) − pad.)
func flippedFilters(_ shape: Conv2DShape, weight: UnsafePointer<Float>, into flipped: UnsafeMutablePointer<Float>) {
    let (channels, filters, taps) = (shape.inChannels, shape.outChannels, shape.kernelHeight * shape.kernelWidth)
    for k in 0..<filters {
        for c in 0..<channels {
            let from = weight + (k * channels + c) * taps, to = flipped + (c * filters + k) * taps
            for t in 0..<taps { to[t] = from[taps - 1 - t] }
        }
    }
}

/// The forward pass of a size-preserving convolution on large planes without an im2col matrix:
/// each image is copied once into a zero-padded plane per channel (Hp = H + 2·padH rows of
/// Wp = W + 2·padW), and the output is computed on that padded grid, column j = oh·Wp + ow
/// (the columns ow ≥ W are junk and dropped). Then filter tap (c, r, s) reads, for every j,
/// padded[c][j + r·dilation·Wp + s·dilation]: the B operand of the GEMM is the padded input
/// itself, row p of it starting at offset(p), which the gathered register tile reads in place.
/// The price is the junk columns, (Hp·Wp − H·W)/(H·W) extra multiplies (15% at 28x28), so it is
/// used only where that is small; the saving is writing and reading the C·R·S-row im2col matrix.
struct PaddedInputConvolution {
    let shape: Conv2DShape, kernel: GemmKernel, tile: GemmKernel.GatheredTile
    let paddedWidth: Int, paddedPlane: Int, offsets: [Int]

    /// Size-preserving, and the padded grid at most 20% larger than the plane.
    static func suits(_ shape: Conv2DShape, kernel: GemmKernel) -> Bool {
        guard shape.preservesSize, !shape.isPointwise else { return false }
        let padded = (shape.height + 2 * shape.padH) * (shape.width + 2 * shape.padW)
        return 5 * padded <= 6 * shape.height * shape.width
    }

    init(_ shape: Conv2DShape, kernel: GemmKernel, tile: @escaping GemmKernel.GatheredTile) {
        (self.shape, self.kernel, self.tile) = (shape, kernel, tile)
        paddedWidth = shape.width + 2 * shape.padW
        paddedPlane = (shape.height + 2 * shape.padH) * paddedWidth
        var offsets: [Int] = []
        for c in 0..<shape.inChannels {
            for r in 0..<shape.kernelHeight {
                for s in 0..<shape.kernelWidth {
                    offsets.append(c * paddedPlane + r * shape.dilationH * paddedWidth + s * shape.dilationW)
                }
            }
        }
        self.offsets = offsets
    }

    /// Output columns per image: the padded grid's rows that hold outputs, in whole panels of nr.
    var columns: Int { (shape.height * paddedWidth + kernel.nr - 1) / kernel.nr * kernel.nr }
    /// Floats of one image's padded copy, with room for the last panel's reads past its end.
    var paddedFloats: Int { shape.inChannels * paddedPlane + (offsets.last ?? 0) % paddedPlane + 2 * kernel.nr }
    var filterRows: Int { (shape.outChannels + kernel.mr - 1) / kernel.mr * kernel.mr }

    /// output = conv(input, weight) + bias, or output += conv(input, weight) with `accumulate`.
    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 output: UnsafeMutablePointer<Float>, accumulate: Bool = false, parallelism: Parallelism) {
        let (crs, filters, plane) = (shape.filterSize, shape.outChannels, shape.height * shape.width)
        let (mr, nr, columns) = (kernel.mr, kernel.nr, self.columns)
        ScratchBuffers.with(floats: filterRows * crs) { packedWeights in
            kernel.packA(false, weight, crs, 0, filters, 0, crs, mr, packedWeights)
            offsets.withUnsafeBufferPointer { offsets in
                parallelism.forEachRange(shape.batch) { images in
                    ScratchBuffers.with(floats: paddedFloats + filterRows * columns) { scratch in
                        let (padded, product) = (scratch, scratch + paddedFloats)
                        for n in images {
                            pad(input + n * shape.inChannels * plane, into: padded)
                            for j0 in stride(from: 0, to: columns, by: nr) {
                                for i0 in stride(from: 0, to: filters, by: mr) {
                                    tile(crs, packedWeights + i0 * crs, padded + j0, offsets.baseAddress!,
                                         product + i0 * columns + j0, columns, 1, 0)
                                }
                            }
                            let y = output + n * filters * plane
                            for k in 0..<filters {
                                let value = bias?[k] ?? 0
                                for oh in 0..<shape.height {
                                    let from = product + k * columns + oh * paddedWidth, to = y + k * plane + oh * shape.width
                                    if accumulate {
                                        for ow in 0..<shape.width { to[ow] += from[ow] + value }
                                    } else {
                                        for ow in 0..<shape.width { to[ow] = from[ow] + value }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The image's channels into zero-padded planes. Each float is written once, in order: a
    /// plane's top rows and first left border as one run of zeros, then each row followed by
    /// its right border and the next row's left one (after the last row, the bottom rows), then
    /// the tail past the last plane. The runs are short (28 floats a row at 28x28, 2 between),
    /// so they go through vector moves, not library calls (perf put 1.8% of a smallnet k = 32
    /// step in `memmove` here, one call a row).
    private func pad(_ image: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>) {
        let (h, w, padH, padW) = (shape.height, shape.width, shape.padH, shape.padW)
        for c in 0..<shape.inChannels {
            let plane = padded + c * paddedPlane
            zeroFloats(plane, count: padH * paddedWidth + padW)
            for row in 0..<h {
                let start = plane + (row + padH) * paddedWidth + padW
                copyFloats(image + (c * h + row) * w, to: start, count: w)
                zeroFloats(start + w, count: row + 1 < h ? 2 * padW : padW + padH * paddedWidth)
            }
        }
        let planes = shape.inChannels * paddedPlane
        zeroFloats(padded + planes, count: paddedFloats - planes)
    }
}
