// Packing for SGEMM: copies a block of op(A) or op(B) into the order the register tile reads,
// zero-padding the last partial panel so the tile never needs an edge case.
// Shapes: op(A) is M×K, op(B) is K×N, both row-major views with a leading dimension; `transposed`
// says the operand is stored transposed (A(i, p) = a[p·lda + i], B(p, j) = b[j·ldb + p]).
// @inlinable like the tiles, so that each instruction-set module compiles its own copy (the
// register transposes below run as 16-lane shuffles only where AVX-512 is on).

/// Packs rows `i0..<i0+mc`, columns `p0..<p0+kc` of op(A) into `mr`-row panels:
/// panel r holds, for each p, the `mr` values A(i0 + r·mr + ii, p0 + p).
@inlinable @inline(__always)
public func gemmPackA(transposed: Bool, _ a: UnsafePointer<Float>, lda: Int, i0: Int, mc: Int, p0: Int, kc: Int,
           mr: Int, into dst: UnsafeMutablePointer<Float>) {
    var out = dst
    var r = 0
    while r < mc {
        let rows = min(mr, mc - r)
        if !transposed {
            // A(i, p) = a[i·lda + p]: each row is contiguous in p. Read the panel's rows side by
            // side so that each step writes mr consecutive floats.
            // A whole 12-row panel (the AVX-512 tile's) goes 16 values of p at a time through
            // registers; the rest one by one.
            let src = a + (i0 + r) * lda + p0
            var p = 0
            if rows == 12 && mr == 12 {
                withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 32) { scratch in
                    while p + 16 <= kc {
                        let columns = transpose16x16(src + p, ld: lda, rows: 12, scratch: scratch.baseAddress!)
                        for t in 0..<16 {
                            let dst = UnsafeMutableRawPointer(out + (p &+ t) &* 12)
                            dst.storeBytes(of: columns[t].lowHalf, as: SIMD8<Float>.self)
                            dst.storeBytes(of: columns[t].highHalf.lowHalf, toByteOffset: 32, as: SIMD4<Float>.self)
                        }
                        p += 16
                    }
                }
            }
            for p in p..<kc {
                let col = out + p &* mr
                for ii in 0..<rows { col[ii] = src[ii &* lda &+ p] }
            }
        } else {
            // A(i, p) = a[p·lda + i]: a panel's mr values for one p are contiguous.
            for p in 0..<kc {
                let src = a + (p0 + p) * lda + i0 + r
                let col = out + p * mr
                for ii in 0..<rows { col[ii] = src[ii] }
            }
        }
        if rows < mr {
            for p in 0..<kc { for ii in rows..<mr { out[p * mr + ii] = 0 } }
        }
        out += mr * kc
        r += mr
    }
}

/// Packs rows `p0..<p0+kc`, columns `j0..<j0+nc` of op(B) into `nr`-column panels:
/// panel s holds, for each p, the `nr` values B(p0 + p, j0 + s·nr + jj).
@inlinable @inline(__always)
public func gemmPackB(transposed: Bool, _ b: UnsafePointer<Float>, ldb: Int, p0: Int, kc: Int, j0: Int, nc: Int,
           nr: Int, into dst: UnsafeMutablePointer<Float>) {
    var out = dst
    var s = 0
    while s < nc {
        let cols = min(nr, nc - s)
        if !transposed {
            // B(p, j) = b[p·ldb + j]: a panel's nr values for one p are contiguous.
            for p in 0..<kc {
                let src = b + (p0 + p) * ldb + j0 + s
                let row = out + p * nr
                row.update(from: src, count: cols)
                if cols < nr { (row + cols).update(repeating: 0, count: nr - cols) }
            }
        } else {
            // B(p, j) = b[j·ldb + p]: each column of op(B) is contiguous in p. Read the panel's
            // columns side by side so that each step writes nr consecutive floats.
            // A whole panel goes 16×16 blocks at a time through registers; the rest one by one.
            let src = b + (j0 + s) * ldb + p0
            var p = 0
            if cols == nr && nr % 16 == 0 {
                withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: 32) { scratch in
                    while p + 16 <= kc {
                        for block in stride(from: 0, to: nr, by: 16) {
                            let rows = transpose16x16(src + block * ldb + p, ld: ldb, rows: 16, scratch: scratch.baseAddress!)
                            for t in 0..<16 {
                                UnsafeMutableRawPointer(out + ((p &+ t) &* nr &+ block)).storeBytes(of: rows[t], as: SIMD16<Float>.self)
                            }
                        }
                        p += 16
                    }
                }
            }
            for p in p..<kc {
                let row = out + p &* nr
                for jj in 0..<cols { row[jj] = src[jj &* ldb &+ p] }
                for jj in cols..<nr { row[jj] = 0 }
            }
        }
        out += nr * kc
        s += nr
    }
}

/// The transpose of the block whose row i (of `rows` ≤ 16) is the 16 floats at `src + i·ld`:
/// vector t of the result holds column t (lanes from `rows` on repeat row 0). Four rounds of
/// splitting the block's 256 values into even and odd positions; each round moves the lowest
/// bit of an element's index to the top, so four of them swap row and column. The result lives
/// in `scratch` (32 vectors).
@inlinable @inline(__always)
public func transpose16x16(_ src: UnsafePointer<Float>, ld: Int, rows: Int, scratch: UnsafeMutablePointer<SIMD16<Float>>)
    -> UnsafeMutablePointer<SIMD16<Float>> {
    var (from, to) = (scratch, scratch + 16)
    for i in 0..<16 { from[i] = UnsafeRawPointer(src + (i < rows ? i &* ld : 0)).loadUnaligned(as: SIMD16<Float>.self) }
    for _ in 0..<4 {
        for i in 0..<8 {
            let pair = SIMD32(lowHalf: from[2 &* i], highHalf: from[2 &* i &+ 1])
            to[i] = pair.evenHalf
            to[8 &+ i] = pair.oddHalf
        }
        swap(&from, &to)
    }
    return from
}
