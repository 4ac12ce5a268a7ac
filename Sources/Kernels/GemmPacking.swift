// Packing for SGEMM: copies a block of op(A) or op(B) into the order the register tile reads,
// zero-padding the last partial panel so the tile never needs an edge case.
// Shapes: op(A) is M×K, op(B) is K×N, both row-major views with a leading dimension.

/// Packs rows `i0..<i0+mc`, columns `p0..<p0+kc` of op(A) into `mr`-row panels:
/// panel r holds, for each p, the `mr` values A(i0 + r·mr + ii, p0 + p).
@inline(__always)
func packA(_ trans: Transpose, _ a: UnsafePointer<Float>, lda: Int, i0: Int, mc: Int, p0: Int, kc: Int,
           mr: Int, into dst: UnsafeMutablePointer<Float>) {
    var out = dst
    var r = 0
    while r < mc {
        let rows = min(mr, mc - r)
        switch trans {
        case .none:
            // A(i, p) = a[i·lda + p]: each row is contiguous in p. Read the panel's rows side by
            // side so that each step writes mr consecutive floats.
            let src = a + (i0 + r) * lda + p0
            for p in 0..<kc {
                let col = out + p &* mr
                for ii in 0..<rows { col[ii] = src[ii &* lda &+ p] }
            }
        case .transposed:
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
@inline(__always)
func packB(_ trans: Transpose, _ b: UnsafePointer<Float>, ldb: Int, p0: Int, kc: Int, j0: Int, nc: Int,
           nr: Int, into dst: UnsafeMutablePointer<Float>) {
    var out = dst
    var s = 0
    while s < nc {
        let cols = min(nr, nc - s)
        switch trans {
        case .none:
            // B(p, j) = b[p·ldb + j]: a panel's nr values for one p are contiguous.
            for p in 0..<kc {
                let src = b + (p0 + p) * ldb + j0 + s
                let row = out + p * nr
                row.update(from: src, count: cols)
                if cols < nr { (row + cols).update(repeating: 0, count: nr - cols) }
            }
        case .transposed:
            // B(p, j) = b[j·ldb + p]: each column of op(B) is contiguous in p. Read the panel's
            // columns side by side so that each step writes nr consecutive floats.
            let src = b + (j0 + s) * ldb + p0
            for p in 0..<kc {
                let row = out + p &* nr
                for jj in 0..<cols { row[jj] = src[jj &* ldb &+ p] }
                for jj in cols..<nr { row[jj] = 0 }
            }
        }
        out += nr * kc
        s += nr
    }
}
