// The 3×3, stride-1, padding-1 convolution by Winograd's minimal filtering F(2×2, 3×3)
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2×2 block of
// outputs is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A over the 4×4 input patch d around it, so the sum over input
// channels becomes 16 matrix products (one per position ξ of the 4×4 transformed patch) with
// 16 multiplications per 2×2 outputs instead of 36: 2.25× fewer than the direct convolution.
// Used by Conv2D.swift for the forward pass, (as the flipped-filter convolution) for ∂input, and
// for ∂weights (Conv2DWinogradWeightGradient.swift: the same identity differentiated) where the
// channel counts are large enough for the products to dominate the transforms.
// Shape letters as in Conv2D.swift.

/// F(2×2, 3×3) for one shape: filters transformed once, then images in groups, each group's
/// patches transformed, multiplied by the 16 transformed filter matrices, and transformed back.
struct WinogradConvolution {
    let shape: Conv2DShape
    /// Tiles (2×2 output blocks) down and across one image; the last may hang over the edge.
    let tilesDown: Int, tilesAcross: Int

    /// The shapes it computes: 3×3 filters, stride 1, padding 1, no dilation.
    static func computes(_ shape: Conv2DShape) -> Bool {
        shape.kernelHeight == 3 && shape.kernelWidth == 3 && shape.strideH == 1 && shape.strideW == 1
            && shape.padH == 1 && shape.padW == 1 && shape.dilationH == 1 && shape.dilationW == 1
    }

    /// The shapes it is faster for with `kernel`'s tile (measured with `bench conv`,
    /// docs/performance.md sessions 16, 33 and 34): at least `minimumChannels(kernel)` channels in
    /// and out (below, the 16 products, each a reduction over C, are too thin to pay for the
    /// transforms) and even sides (on 7×7 the last row and column of tiles are half empty: 30%
    /// of the products wasted, and it lost to the direct convolution).
    static func suits(_ shape: Conv2DShape, kernel: GemmKernel) -> Bool {
        let line = minimumChannels(kernel)
        return computes(shape) && shape.inChannels >= line && shape.outChannels >= line
            && shape.height % 2 == 0 && shape.width % 2 == 0
    }

    /// The channel line of the forward pass and ∂input: 64 for tiles 32 columns wide (AVX-512),
    /// 32 for narrower ones (AVX2, the portable tile), whose products cost about twice as much
    /// per value the transforms move (measured on Emerald Rapids, where the AVX2 tile runs at
    /// half the AVX-512 one's rate; not on Zen 4, whose AVX-512 runs as two halves). The AVX-512
    /// line was 96 until session 33, set while the 16 matrices of the transforms still fell in
    /// one L1 set (`positionStride`); since, on Emerald Rapids, smallnet k = 32's 64→64 14x14
    /// layer ran its forward pass at 166–265 effective GFLOP/s against 112–157 direct. At 32
    /// channels AVX-512 gains nothing (session 34, whole layers, medians of eight rounds: 32→64
    /// at 28x28 171 → 179, 32→32 166 → 157); the AVX2 tile does (six rounds: 32→64 forward
    /// 126 → 150, ∂input 106 → 124; 32→32 forward 91 → 101), and smallnet k = 32 trains faster
    /// with it (docs/performance.md).
    static func minimumChannels(_ kernel: GemmKernel) -> Int { kernel.nr >= 32 ? 64 : 32 }

    /// The shapes its ∂weights is faster for: at least 32 channels in and out, even sides. Its
    /// products are reductions over tiles, not channels, so they stay thick where the forward
    /// pass's are thin (`bench conv --width 32`, docs/performance.md session 25: ∂weights of
    /// smallnet k = 32's 28x28 and 14x14 layers 122–148 → 138–220 effective GFLOP/s; its 7×7
    /// layer 126 → 71–73, hence even sides).
    static func suitsWeightGradient(_ shape: Conv2DShape) -> Bool {
        computes(shape) && shape.height % 2 == 0 && shape.width % 2 == 0
            && shape.inChannels >= minimumWeightGradientChannels && shape.outChannels >= minimumWeightGradientChannels
    }
    static let minimumWeightGradientChannels = 32

    init(_ shape: Conv2DShape) {
        self.shape = shape
        tilesDown = (shape.height + 1) / 2
        tilesAcross = (shape.width + 1) / 2
    }

    /// GEMM columns (tiles) per group the forward pass and ∂input aim at: about 512, so that the
    /// last column panel wastes little.
    static let forwardColumns = 512
    /// GEMM columns per group ∂weights aims at (at least one image): its transformed patches and
    /// gradients, 16 values a tile each, then stay near the cache between their transform and
    /// their product. Measured with `bench conv --width 128` (docs/performance.md, session 24):
    /// ∂weights of the 28x28 128→128 layer ran at 199–207 effective GFLOP/s with two images a
    /// group (392 columns) and 290–302 with one; the 14x14 layer 229–246 with nine and 254–306
    /// with one or two. With the operands written packed (session 26), one image of the 14x14
    /// layer a group (49 columns) read 384–388 against 322–367 with two.
    static let weightGradientColumns = 50

    /// Images per group with `threads` threads: as many as make about `columns` GEMM columns (at
    /// least one), the groups that makes rounded up to a multiple of the threads and the images
    /// spread evenly over them (on 14×14, 10 images a group made 5 groups of a batch of 50, and
    /// one of 2 threads idled a sixth of the layer). Each GEMM column's sums do not depend on
    /// its neighbours, so the grouping changes no bit of the forward pass.
    func imagesPerGroup(threads: Int, columns: Int = forwardColumns) -> Int {
        let threads = max(1, threads)
        let wanted = max(1, min(shape.batch, columns / (tilesDown * tilesAcross)))
        let groups = (shape.batch + wanted - 1) / wanted
        let balanced = (groups + threads - 1) / threads * threads
        return max(1, (shape.batch + balanced - 1) / balanced)
    }

    /// output = conv(input, weight) + bias, or output += conv(input, weight) with `accumulate`.
    func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 output: UnsafeMutablePointer<Float>, accumulate: Bool = false, parallelism: Parallelism,
                 kernel: GemmKernel = .selected) {
        let (channels, filters) = (shape.inChannels, shape.outChannels)
        let groupImages = imagesPerGroup(threads: parallelism.threads)
        let groups = (shape.batch + groupImages - 1) / groupImages
        let nr = kernel.nr
        let columnsPerGroup = (groupImages * tilesDown * tilesAcross + nr - 1) / nr * nr
        let paddedPlane = (2 * tilesDown + 2) * (2 * tilesAcross + 2)
        let (patchesSize, productsSize) = (16 * Self.positionStride(channels * columnsPerGroup),
                                           16 * Self.positionStride(filters * columnsPerGroup))
        ScratchBuffers.with(floats: 16 * filters * channels) { transformedFilters in
            transformFilters(weight, into: transformedFilters)
            parallelism.forEachRange(groups) { groupRange in
                ScratchBuffers.with(floats: patchesSize + productsSize + paddedPlane) { scratch in
                    let (patches, products, plane) = (scratch, scratch + patchesSize, scratch + patchesSize + productsSize)
                    for group in groupRange {
                        let first = group * groupImages, images = min(groupImages, shape.batch - first)
                        let columns = images * tilesDown * tilesAcross
                        let panelColumns = (columns + nr - 1) / nr * nr
                        let (patchStride, productStride) = (Self.positionStride(channels * panelColumns),
                                                            Self.positionStride(filters * columns))
                        transformPatches(input, images: first..<(first + images), panelColumns: panelColumns, nr: nr,
                                         plane: plane, into: patches)
                        for position in 0..<16 {
                            sgemm(.none, m: filters, n: columns, k: channels, alpha: 1,
                                  a: transformedFilters + position * filters * channels, lda: channels,
                                  packedB: patches + position * patchStride, beta: 0,
                                  c: products + position * productStride, ldc: columns,
                                  parallelism: .serial, kernel: kernel)
                        }
                        transformProducts(products, images: first..<(first + images), columns: columns, bias: bias,
                                          into: output, accumulate: accumulate)
                    }
                }
            }
        }
    }

    /// The distance in floats between consecutive ξ matrices of `count` floats each (transformed
    /// patches, products): `count` rounded up to 4 KiB, and one 64-byte line more. The 16 matrices
    /// are written (transformed patches) and read (products) side by side, a tile's 16 values at
    /// once; at a distance that is a multiple of 4 KiB (128 channels × 512 columns is 256 KiB) all
    /// 16 streams fall in one set of the L1 cache, which holds 8 or 12 lines of a set, and evict
    /// one another. Shifted by a line each, they take 16 different sets.
    static func positionStride(_ count: Int) -> Int { (count + 1023) / 1024 * 1024 + 16 }

    /// U[ξ][k][c] = (G g Gᵀ)[ξ] for each filter g = weight[k][c] (3×3), G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
    func transformFilters(_ weight: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let (channels, filters) = (shape.inChannels, shape.outChannels)
        for k in 0..<filters {
            for c in 0..<channels {
                let g = weight + (k * channels + c) * 9
                // t = G g (4×3), as four rows of three (the fourth lane unused).
                let g0 = SIMD4(g[0], g[1], g[2], 0), g1 = SIMD4(g[3], g[4], g[5], 0), g2 = SIMD4(g[6], g[7], g[8], 0)
                let rows = (g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
                // u = t Gᵀ (4×4), row by row.
                @inline(__always) func store(_ r: Int, _ t: SIMD4<Float>) {
                    let values = SIMD4(t[0], 0.5 * (t[0] + t[1] + t[2]), 0.5 * (t[0] - t[1] + t[2]), t[2])
                    for col in 0..<4 { u[((r * 4 + col) * filters + k) * channels + c] = values[col] }
                }
                store(0, rows.0); store(1, rows.1); store(2, rows.2); store(3, rows.3)
            }
        }
    }

    /// V[ξ] = (Bᵀ d B)[ξ] for the 4×4 input patch d of each tile (rows 2·th − 1 … 2·th + 2, zero
    /// outside the image), Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], laid out as the GEMM's
    /// packed B operand (`sgemm(_:m:n:k:…packedB:…)`): for each ξ a C × `panelColumns` matrix in
    /// `nr`-column panels, column = (image − first)·tiles + th·tilesAcross + tw, the columns past
    /// the last tile zero; ξ's matrix starts at ξ·`positionStride(C·panelColumns)`. `plane` holds
    /// one zero-bordered input plane at a time.
    func transformPatches(_ input: UnsafePointer<Float>, images: Range<Int>, panelColumns: Int, nr: Int,
                          plane padded: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let (channels, h, w) = (shape.inChannels, shape.height, shape.width)
        let tiles = tilesDown * tilesAcross
        let paddedWidth = 2 * tilesAcross + 2, paddedRows = 2 * tilesDown + 2
        let usedColumns = images.count * tiles
        // Element (c, column) of ξ's matrix is at index(c, column) + ξ·matrix; the matrices
        // follow one another.
        let matrix = Self.positionStride(channels * panelColumns)
        @inline(__always) func index(_ c: Int, _ column: Int) -> Int {
            (column / nr) &* channels &* nr &+ c &* nr &+ column % nr
        }
        padded.update(repeating: 0, count: paddedRows * paddedWidth)
        for n in images {
            for c in 0..<channels {
                let source = input + (n * channels + c) * h * w
                for row in 0..<h { copyFloats(source + row * w, to: padded + (row + 1) * paddedWidth + 1, count: w) }
                for th in 0..<tilesDown {
                    let top = UnsafeRawPointer(padded + 2 * th * paddedWidth)
                    let rowColumn = (n - images.lowerBound) * tiles + th * tilesAcross
                    var next = 0
                    // Four tiles at a time, one vector lane each: a patch row's four values for four
                    // tiles are the even and odd lanes of two 8-float loads 2 floats apart. The last
                    // four end at the row's last tile, overlapping the four before them where the
                    // row's count is not a multiple of four (those tiles are written twice, alike).
                    while tilesAcross >= 4 && next < tilesAcross {
                        let tw = min(next, tilesAcross - 4)
                        @inline(__always) func patchRow(_ r: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
                            let offset = (r * paddedWidth + 2 * tw) * 4
                            let a = top.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                            let b = top.loadUnaligned(fromByteOffset: offset + 8, as: SIMD8<Float>.self)
                            return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
                        }
                        let (d0, d1, d2, d3) = (patchRow(0), patchRow(1), patchRow(2), patchRow(3))
                        let column = rowColumn + tw
                        let contiguous = column % nr + 4 <= nr
                        let at = v + index(c, column)
                        @inline(__always) func store(_ position: Int, _ x: SIMD4<Float>) {
                            if contiguous {
                                UnsafeMutableRawPointer(at + position &* matrix).storeBytes(of: x, as: SIMD4<Float>.self)
                            } else {
                                for lane in 0..<4 { v[position &* matrix &+ index(c, column + lane)] = x[lane] }
                            }
                        }
                        // t = Bᵀ d, row by row (each entry a vector over the four tiles), then t B.
                        @inline(__always) func storeRow(_ r: Int, _ t: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)) {
                            store(4 * r, t.0 - t.2); store(4 * r + 1, t.1 + t.2); store(4 * r + 2, t.2 - t.1); store(4 * r + 3, t.1 - t.3)
                        }
                        storeRow(0, (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3))
                        storeRow(1, (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3))
                        storeRow(2, (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3))
                        storeRow(3, (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3))
                        next = tw + 4
                    }
                    // Rows of fewer than four tiles, one tile at a time.
                    for tw in next..<tilesAcross {
                        // t = Bᵀ d (rows of d as vectors), then each row of t B.
                        @inline(__always) func patchRow(_ r: Int) -> SIMD4<Float> {
                            top.loadUnaligned(fromByteOffset: (r * paddedWidth + 2 * tw) * 4, as: SIMD4<Float>.self)
                        }
                        let (d0, d1, d2, d3) = (patchRow(0), patchRow(1), patchRow(2), patchRow(3))
                        let at = v + index(c, rowColumn + tw)
                        @inline(__always) func store(_ r: Int, _ x: SIMD4<Float>) {
                            let values = SIMD4(x[0] - x[2], x[1] + x[2], x[2] - x[1], x[1] - x[3])
                            for col in 0..<4 { at[(r * 4 + col) &* matrix] = values[col] }
                        }
                        store(0, d0 - d2); store(1, d1 + d2); store(2, d2 - d1); store(3, d1 - d3)
                    }
                }
            }
        }
        // The plane's border stays zero: only the interior was written. The last panel's unused
        // columns are zero, as the packed operand requires: a run of each channel's row there.
        let unused = panelColumns - usedColumns
        guard unused > 0 else { return }
        precondition(unused < nr, "Winograd: \(panelColumns) panel columns for \(usedColumns) tiles is more than one panel's padding")
        for position in 0..<16 {
            for c in 0..<channels { (v + position * matrix + index(c, usedColumns)).update(repeating: 0, count: unused) }
        }
    }

    /// output[n][k][2·th + i][2·tw + j] (+)= (Aᵀ m A)[i][j] + bias[k] for the 4×4 products m of each
    /// tile, Aᵀ = [1 1 1 0; 0 1 −1 −1]; outputs past the image's edge are dropped. ξ's K × `columns`
    /// matrix of products starts at ξ·`positionStride(K·columns)`.
    func transformProducts(_ m: UnsafePointer<Float>, images: Range<Int>, columns: Int, bias: UnsafePointer<Float>?,
                           into output: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (filters, h, w) = (shape.outChannels, shape.height, shape.width)
        let tiles = tilesDown * tilesAcross
        for n in images {
            for k in 0..<filters {
                let plane = output + (n * filters + k) * h * w
                let value = bias?[k] ?? 0
                let stride = Self.positionStride(filters * columns)
                for th in 0..<tilesDown {
                    let rowColumn = (n - images.lowerBound) * tiles + th * tilesAcross
                    // Four tiles at a time (their columns of M are consecutive) over the tiles
                    // that write whole 2×2 blocks (all but a last one cut by an odd width, and
                    // none in a last row cut by an odd height): the two output rows as the four
                    // tiles' pairs interleaved. The last four end at the last whole tile,
                    // overlapping the four before them where the count is not a multiple of four:
                    // the overlapped tiles' outputs are written again alike, or, where the pass
                    // adds to the output, kept as they were.
                    let wholeTiles = 2 * th + 2 <= h ? w / 2 : 0
                    var tw = 0
                    while wholeTiles >= 4 && tw < wholeTiles {
                        let first = min(tw, wholeTiles - 4)
                        let base = m + k * columns + rowColumn + first
                        @inline(__always) func product(_ position: Int) -> SIMD4<Float> {
                            UnsafeRawPointer(base + position &* stride).loadUnaligned(as: SIMD4<Float>.self)
                        }
                        // s = Aᵀ m (2×4, each entry a vector over the four tiles), then y = s A.
                        @inline(__always) func column(_ j: Int) -> (SIMD4<Float>, SIMD4<Float>) {
                            let (m0, m1, m2, m3) = (product(j), product(4 + j), product(8 + j), product(12 + j))
                            return (m0 + m1 + m2, m1 - m2 - m3)
                        }
                        let (c0, c1, c2, c3) = (column(0), column(1), column(2), column(3))
                        let top = UnsafeMutableRawPointer(plane + 2 * th * w + 2 * first), bottom = top + w * 4
                        var upper = SIMD8<Float>(), lower = SIMD8<Float>()
                        upper.evenHalf = c0.0 + c1.0 + c2.0 + value
                        upper.oddHalf = c1.0 - c2.0 - c3.0 + value
                        lower.evenHalf = c0.1 + c1.1 + c2.1 + value
                        lower.oddHalf = c1.1 - c2.1 - c3.1 + value
                        if accumulate {
                            let (upperBefore, lowerBefore) = (top.loadUnaligned(as: SIMD8<Float>.self),
                                                              bottom.loadUnaligned(as: SIMD8<Float>.self))
                            upper += upperBefore
                            lower += lowerBefore
                            let overlap = 2 * (tw - first)
                            if overlap > 0 {
                                // A compare of floats: the same of SIMD8<Int32> was built lane by
                                // lane through the stack (perf: the function's cost up by half).
                                let written = SIMD8<Float>(0, 1, 2, 3, 4, 5, 6, 7) .< Float(overlap)
                                upper.replace(with: upperBefore, where: written)
                                lower.replace(with: lowerBefore, where: written)
                            }
                        }
                        top.storeBytes(of: upper, as: SIMD8<Float>.self)
                        bottom.storeBytes(of: lower, as: SIMD8<Float>.self)
                        tw = first + 4
                    }
                    while tw < tilesAcross {
                        let column = rowColumn + tw
                        @inline(__always) func row(_ r: Int) -> SIMD4<Float> {
                            let base = m + r * 4 * stride + k * columns + column
                            return SIMD4(base[0], base[stride], base[2 * stride], base[3 * stride])
                        }
                        let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3))
                        // s = Aᵀ m (2×4), then y = s A (2×2).
                        let s0 = m0 + m1 + m2, s1 = m1 - m2 - m3
                        let y = SIMD4(s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3],
                                      s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]) + value
                        for i in 0..<2 where 2 * th + i < h {
                            for j in 0..<2 where 2 * tw + j < w {
                                let index = (2 * th + i) * w + 2 * tw + j
                                if accumulate { plane[index] += y[2 * i + j] } else { plane[index] = y[2 * i + j] }
                            }
                        }
                        tw += 1
                    }
                }
            }
        }
    }
}
