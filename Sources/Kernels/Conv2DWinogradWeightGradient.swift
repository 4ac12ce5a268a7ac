// ∂weights of the 3×3, stride-1, padding-1 convolution by Winograd's F(2×2, 3×3): the identity of
// Conv2DWinograd.swift differentiated, its 16 products (one per position ξ of the transformed
// patch) reductions over the tiles. Both of their operands are written by the transforms straight
// into the register tile's packed layouts, from channels-last copies of each image, so that no
// packing pass comes between a transform and its product. Shape letters as in Conv2D.swift.

extension WinogradConvolution {
    /// gradWeight += ∂L/∂weight. Differentiating y = Aᵀ[U ⊙ V]A with U = G g Gᵀ: ∂L/∂U[ξ] =
    /// Σ over tiles of (A ∂y Aᵀ)[ξ]·V[ξ], so for each position ξ of the transformed patch the
    /// K × C matrix M[ξ] = Ŷ[ξ]·V[ξ]ᵀ (a product over the tiles: 16 of them, 2.25× fewer
    /// multiplications than the direct convolution's ∂weights), and ∂L/∂g = Gᵀ M G per filter.
    ///
    /// Each image is first turned channels-last by the tile's own packing (16×16 register
    /// transposes), so that both transforms run across channels and write each tile's values
    /// where `kernel`'s register tile reads them: Ŷ[ξ] in `mr`-filter panels, V[ξ] in `nr`-channel
    /// panels, one step of the shared dimension per tile. (Transforms that ran across tiles and
    /// left sgemm to pack their output again spent more time than the products:
    /// docs/performance.md, session 26.) Each thread sums its share of the image groups into M of
    /// its own; the shares are added in thread order, then transformed back.
    func backwardWeights(input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>, gradWeight: UnsafeMutablePointer<Float>,
                         parallelism: Parallelism, kernel: GemmKernel = .selected) {
        let (channels, filters, plane) = (shape.inChannels, shape.outChannels, shape.height * shape.width)
        let (mr, nr) = (kernel.mr, kernel.nr)
        let layout = PackedLayout(filterRows: (filters + mr - 1) / mr * mr, mr: mr,
                                  channelColumns: (channels + nr - 1) / nr * nr, nr: nr)
        // The channels-last copies' rows, in whole 16-float blocks (the packing's register transposes).
        let (filterStride, channelStride) = ((layout.filterRows + 15) / 16 * 16, (layout.channelColumns + 15) / 16 * 16)
        let groupImages = imagesPerGroup(threads: parallelism.threads, columns: Self.weightGradientColumns)
        let groups = (shape.batch + groupImages - 1) / groupImages
        let workers = max(1, min(parallelism.threads, groups))
        let tiles = tilesDown * tilesAcross, largest = groupImages * tiles
        let products = 16 * layout.filterRows * layout.channelColumns
        ScratchBuffers.with(floats: workers * products) { partials in
            partials.update(repeating: 0, count: workers * products)
            DispatchQueueConcurrency.perform(workers) { worker in
                let share = Parallelism.range(worker, of: workers, in: groups)
                guard !share.isEmpty else { return }
                let patchFloats = 16 * layout.channelColumns * largest, gradientFloats = 16 * layout.filterRows * largest
                ScratchBuffers.with(floats: patchFloats + gradientFloats + plane * max(filterStride, channelStride)) { scratch in
                    let (patches, gradients, channelsLast) = (scratch, scratch + patchFloats, scratch + patchFloats + gradientFloats)
                    let m = partials + worker * products
                    for group in share {
                        let first = group * groupImages, images = min(groupImages, shape.batch - first)
                        let columns = images * tiles
                        for n in first..<(first + images) {
                            let column = (n - first) * tiles
                            kernel.packB(true, input + n * channels * plane, plane, 0, plane, 0, channels, channelStride, channelsLast)
                            transformPatches(channelsLast: channelsLast, stride: channelStride, firstColumn: column, columns: columns,
                                             layout: layout, into: patches)
                            kernel.packB(true, gradOutput + n * filters * plane, plane, 0, plane, 0, filters, filterStride, channelsLast)
                            transformGradients(channelsLast: channelsLast, stride: filterStride, firstColumn: column, columns: columns,
                                               layout: layout, into: gradients)
                        }
                        // M[ξ] += Ŷ[ξ]·V[ξ]ᵀ, tile by tile: a packed panel of either operand is `columns` steps long.
                        for position in 0..<16 {
                            let a = gradients + position * layout.filterRows * columns
                            let b = patches + position * layout.channelColumns * columns
                            let c = m + position * layout.filterRows * layout.channelColumns
                            for j in stride(from: 0, to: layout.channelColumns, by: nr) {
                                for i in stride(from: 0, to: layout.filterRows, by: mr) {
                                    kernel.tile(columns, a + i * columns, b + j * columns, c + i * layout.channelColumns + j,
                                                layout.channelColumns, 1, 1)
                                }
                            }
                        }
                    }
                }
            }
            for worker in 1..<workers { add(count: products, partials, partials + worker * products, into: partials, parallelism: parallelism) }
            parallelism.forEach(filters, grain: max(1, 4096 / (16 * channels))) { k in
                for c in 0..<channels {
                    @inline(__always) func row(_ r: Int) -> SIMD4<Float> {
                        let at = partials + k * layout.channelColumns + c, stride = layout.filterRows * layout.channelColumns
                        return SIMD4(at[(4 * r) * stride], at[(4 * r + 1) * stride], at[(4 * r + 2) * stride], at[(4 * r + 3) * stride])
                    }
                    // s = Gᵀ M (3×4), then s G (3×3): G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
                    let (m0, m1, m2, m3) = (row(0), row(1), row(2), row(3))
                    let g = gradWeight + (k * channels + c) * 9
                    @inline(__always) func add(_ r: Int, _ t: SIMD4<Float>) {
                        g[3 * r] += t[0] + 0.5 * (t[1] + t[2])
                        g[3 * r + 1] += 0.5 * (t[1] - t[2])
                        g[3 * r + 2] += 0.5 * (t[1] + t[2]) + t[3]
                    }
                    add(0, m0 + 0.5 * (m1 + m2)); add(1, 0.5 * (m1 - m2)); add(2, 0.5 * (m1 + m2) + m3)
                }
            }
        }
    }

    /// Where the 16 products' operands lie: for each ξ, Ŷ[ξ] (`filterRows` × the group's tiles) in
    /// `mr`-row panels and V[ξ] (`channelColumns` × the tiles) in `nr`-column panels, as
    /// GemmMicroKernel/Portable/Packing.swift lays out A and B with the tiles as the shared
    /// dimension; the rows and columns past the filters and channels are never read back.
    struct PackedLayout {
        let filterRows: Int, mr: Int, channelColumns: Int, nr: Int

        /// Index of filter k's value at position ξ and tile column t, of `columns` tiles.
        @inline(__always) func gradient(_ position: Int, _ k: Int, _ t: Int, columns: Int) -> Int {
            position &* filterRows &* columns &+ (k / mr) &* mr &* columns &+ t &* mr &+ k % mr
        }
        /// Index of channel c's value at position ξ and tile column t, of `columns` tiles.
        @inline(__always) func patch(_ position: Int, _ c: Int, _ t: Int, columns: Int) -> Int {
            position &* channelColumns &* columns &+ (c / nr) &* nr &* columns &+ t &* nr &+ c % nr
        }
    }

    /// V[ξ] = (Bᵀ d B)[ξ] for the 4×4 input patch d of each tile of one image (rows 2·th − 1 …
    /// 2·th + 2, zero outside the image), Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], across
    /// channels: `x` holds the image channels-last (`stride` floats a pixel), and tile (th, tw)
    /// is column `firstColumn` + th·tilesAcross + tw of `columns`.
    func transformPatches(channelsLast x: UnsafePointer<Float>, stride: Int, firstColumn: Int, columns: Int,
                          layout: PackedLayout, into v: UnsafeMutablePointer<Float>) {
        // Eight channels a vector: every tile's nr (32 or 16) is a multiple of it.
        typealias Lanes = SIMD8<Float>
        precondition(layout.nr % Lanes.scalarCount == 0, "Winograd ∂weights: a tile of \(layout.nr) columns, not a multiple of 8")
        let (h, w) = (shape.height, shape.width)
        for th in 0..<tilesDown {
            for tw in 0..<tilesAcross {
                let t = firstColumn + th * tilesAcross + tw
                let top = 2 * th - 1, left = 2 * tw - 1
                let inside = top >= 0 && top + 4 <= h && left >= 0 && left + 4 <= w
                for c in Swift.stride(from: 0, to: layout.channelColumns, by: Lanes.scalarCount) {
                    @inline(__always) func d(_ r: Int, _ s: Int) -> Lanes {
                        let (y, xx) = (top + r, left + s)
                        guard inside || (y >= 0 && y < h && xx >= 0 && xx < w) else { return Lanes() }
                        let offset: Int = (y &* w &+ xx) &* stride &+ c
                        return UnsafeRawPointer(x + offset).loadUnaligned(as: Lanes.self)
                    }
                    let at = v + layout.patch(0, c, t, columns: columns), matrix = layout.channelColumns * columns
                    // t = Bᵀ d, row by row (each entry a vector across channels), then each row of t B.
                    @inline(__always) func storeRow(_ r: Int, _ x0: Lanes, _ x1: Lanes, _ x2: Lanes, _ x3: Lanes) {
                        @inline(__always) func store(_ column: Int, _ value: Lanes) {
                            UnsafeMutableRawPointer(at + (4 * r + column) &* matrix).storeBytes(of: value, as: Lanes.self)
                        }
                        store(0, x0 - x2); store(1, x1 + x2); store(2, x2 - x1); store(3, x1 - x3)
                    }
                    let (d00, d01, d02, d03) = (d(0, 0), d(0, 1), d(0, 2), d(0, 3))
                    let (d10, d11, d12, d13) = (d(1, 0), d(1, 1), d(1, 2), d(1, 3))
                    let (d20, d21, d22, d23) = (d(2, 0), d(2, 1), d(2, 2), d(2, 3))
                    let (d30, d31, d32, d33) = (d(3, 0), d(3, 1), d(3, 2), d(3, 3))
                    storeRow(0, d00 - d20, d01 - d21, d02 - d22, d03 - d23)
                    storeRow(1, d10 + d20, d11 + d21, d12 + d22, d13 + d23)
                    storeRow(2, d20 - d10, d21 - d11, d22 - d12, d23 - d13)
                    storeRow(3, d10 - d30, d11 - d31, d12 - d32, d13 - d33)
                }
            }
        }
    }

    /// Ŷ[ξ] = (A ∂y Aᵀ)[ξ] for the 2×2 block ∂y of ∂output at each tile of one image (zero past
    /// its edge), A = [1 0; 1 1; 1 −1; 0 −1], across filters: `y` holds ∂output channels-last
    /// (`stride` floats a pixel), tile columns as in `transformPatches`.
    func transformGradients(channelsLast y: UnsafePointer<Float>, stride: Int, firstColumn: Int, columns: Int,
                            layout: PackedLayout, into g: UnsafeMutablePointer<Float>) {
        // A vector never straddles two of the tile's mr-row panels.
        switch layout.mr {
        case let mr where mr % 8 == 0:
            transformGradients(y, stride: stride, firstColumn: firstColumn, columns: columns, layout: layout, into: g, lanes: SIMD8<Float>.self)
        case let mr where mr % 4 == 0:
            transformGradients(y, stride: stride, firstColumn: firstColumn, columns: columns, layout: layout, into: g, lanes: SIMD4<Float>.self)
        case let mr where mr % 2 == 0:
            transformGradients(y, stride: stride, firstColumn: firstColumn, columns: columns, layout: layout, into: g, lanes: SIMD2<Float>.self)
        default:
            preconditionFailure("Winograd ∂weights: a tile of \(layout.mr) rows, not even")
        }
    }

    @inline(__always)
    private func transformGradients<Lanes: SIMD>(_ y: UnsafePointer<Float>, stride: Int, firstColumn: Int, columns: Int,
                                                 layout: PackedLayout, into g: UnsafeMutablePointer<Float>, lanes: Lanes.Type)
        where Lanes.Scalar == Float {
        let (h, w) = (shape.height, shape.width)
        for th in 0..<tilesDown {
            for tw in 0..<tilesAcross {
                let t = firstColumn + th * tilesAcross + tw
                let (row, column) = (2 * th, 2 * tw)
                let (down, across) = (row + 1 < h, column + 1 < w)
                for k in Swift.stride(from: 0, to: layout.filterRows, by: Lanes.scalarCount) {
                    @inline(__always) func value(_ i: Int, _ j: Int) -> Lanes {
                        let offset: Int = ((row &+ i) &* w &+ column &+ j) &* stride &+ k
                        return UnsafeRawPointer(y + offset).loadUnaligned(as: Lanes.self)
                    }
                    let y00 = value(0, 0), y01 = across ? value(0, 1) : Lanes()
                    let y10 = down ? value(1, 0) : Lanes(), y11 = down && across ? value(1, 1) : Lanes()
                    let at = g + layout.gradient(0, k, t, columns: columns), matrix = layout.filterRows * columns
                    // t = A ∂y (4×2) as two columns of four, then each row (a, b) of t Aᵀ is (a, a + b, a − b, −b).
                    @inline(__always) func storeRow(_ r: Int, _ a: Lanes, _ b: Lanes) {
                        @inline(__always) func store(_ column: Int, _ value: Lanes) {
                            UnsafeMutableRawPointer(at + (4 * r + column) &* matrix).storeBytes(of: value, as: Lanes.self)
                        }
                        store(0, a); store(1, a + b); store(2, a - b); store(3, Lanes() - b)
                    }
                    storeRow(0, y00, y01)
                    storeRow(1, y00 + y10, y01 + y11)
                    storeRow(2, y00 - y10, y01 - y11)
                    storeRow(3, Lanes() - y10, Lanes() - y11)
                }
            }
        }
    }
}
