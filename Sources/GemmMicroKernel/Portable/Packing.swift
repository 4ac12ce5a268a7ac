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
            // A whole 12- or 8-row panel (the AVX-512 tiles') goes 16 values of p at a time
            // through registers, a 6-row one (the AVX2 tile's) 8 at a time; the rest one by one.
            let src = a + (i0 + r) * lda + p0
            var p = 0
            if rows == 12 && mr == 12 {
                while p + 16 <= kc {
                    let panel = out
                    RegisterBlock16(src + p, ld: lda, rows: 12).transposed().forEach { t, column in
                        let dst = UnsafeMutableRawPointer(panel + (p &+ t) &* 12)
                        dst.storeBytes(of: column.lowHalf, as: SIMD8<Float>.self)
                        dst.storeBytes(of: column.highHalf.lowHalf, toByteOffset: 32, as: SIMD4<Float>.self)
                    }
                    p += 16
                }
            } else if rows == 6 && mr == 6 {
                while p + 8 <= kc {
                    let panel = out
                    RegisterBlock8(src + p, ld: lda, rows: 6).transposed().forEach { t, column in
                        let dst = UnsafeMutableRawPointer(panel + (p &+ t) &* 6)
                        dst.storeBytes(of: column.lowHalf, as: SIMD4<Float>.self)
                        dst.storeBytes(of: column.highHalf.lowHalf, toByteOffset: 16, as: SIMD2<Float>.self)
                    }
                    p += 8
                }
            } else if rows == 8 && mr == 8 {
                while p + 16 <= kc {
                    let panel = out
                    RegisterBlock16(src + p, ld: lda, rows: 8).transposed().forEach { t, column in
                        UnsafeMutableRawPointer(panel + (p &+ t) &* 8).storeBytes(of: column.lowHalf, as: SIMD8<Float>.self)
                    }
                    p += 16
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
            // B(p, j) = b[p·ldb + j]: a panel's nr values for one p are contiguous. A whole
            // panel row is copied as 16-float vectors (a call to memmove per 64 bytes cost 5% of
            // a 1024³ multiplication).
            if cols == nr && nr % 16 == 0 {
                for p in 0..<kc {
                    let src = UnsafeRawPointer(b + (p0 + p) * ldb + j0 + s), row = UnsafeMutableRawPointer(out + p * nr)
                    for offset in stride(from: 0, to: nr * 4, by: 64) {
                        row.storeBytes(of: src.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self),
                                       toByteOffset: offset, as: SIMD16<Float>.self)
                    }
                }
            } else {
                for p in 0..<kc {
                    let src = b + (p0 + p) * ldb + j0 + s
                    let row = out + p * nr
                    row.update(from: src, count: cols)
                    if cols < nr { (row + cols).update(repeating: 0, count: nr - cols) }
                }
            }
        } else {
            // B(p, j) = b[j·ldb + p]: each column of op(B) is contiguous in p. Read the panel's
            // columns side by side so that each step writes nr consecutive floats.
            // A whole panel goes 16×16 blocks at a time through registers, 16 columns of op(B)
            // along the whole of p before the next 16: 16 strided streams read at a time, not nr
            // (Winograd ∂weights turns whole planes channels-last with nr up to 64, and this
            // order cut the packing's cycles there by a third); the rest one by one.
            let src = b + (j0 + s) * ldb + p0
            var p = 0
            if cols == nr && nr % 16 == 0 {
                for block in stride(from: 0, to: nr, by: 16) {
                    p = 0
                    while p + 16 <= kc {
                        let panel = out
                        RegisterBlock16(src + block * ldb + p, ld: ldb, rows: 16).transposed().forEach { t, row in
                            UnsafeMutableRawPointer(panel + ((p &+ t) &* nr &+ block)).storeBytes(of: row, as: SIMD16<Float>.self)
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

/// A 16×16 block of floats held as 16 vectors (rows), meant to stay in registers: the AVX-512
/// tile's packing transposes with it.
public struct RegisterBlock16 {
    public typealias Row = SIMD16<Float>
    @usableFromInline var v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15: Row

    @inlinable @inline(__always)
    init(_ v0: Row, _ v1: Row, _ v2: Row, _ v3: Row, _ v4: Row, _ v5: Row, _ v6: Row, _ v7: Row,
         _ v8: Row, _ v9: Row, _ v10: Row, _ v11: Row, _ v12: Row, _ v13: Row, _ v14: Row, _ v15: Row) {
        (self.v0, self.v1, self.v2, self.v3, self.v4, self.v5, self.v6, self.v7) = (v0, v1, v2, v3, v4, v5, v6, v7)
        (self.v8, self.v9, self.v10, self.v11, self.v12, self.v13, self.v14, self.v15) = (v8, v9, v10, v11, v12, v13, v14, v15)
    }

    /// Row i is the 16 floats at `src + i·ld` for i < `rows` (≤ 16); the rows beyond repeat row 0.
    @inlinable @inline(__always)
    public init(_ src: UnsafePointer<Float>, ld: Int, rows: Int) {
        @inline(__always) func row(_ i: Int) -> Row { UnsafeRawPointer(src + (i < rows ? i &* ld : 0)).loadUnaligned(as: Row.self) }
        self.init(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7),
                  row(8), row(9), row(10), row(11), row(12), row(13), row(14), row(15))
    }

    /// The transpose: four rounds of splitting the 256 values into even and odd positions; each
    /// round moves the lowest bit of an element's index to the top, so four of them swap row
    /// and column. Every step is a two-register shuffle.
    @inlinable @inline(__always)
    public func transposed() -> RegisterBlock16 {
        @inline(__always) func split(_ b: RegisterBlock16) -> RegisterBlock16 {
            @inline(__always) func even(_ x: Row, _ y: Row) -> Row { SIMD32(lowHalf: x, highHalf: y).evenHalf }
            @inline(__always) func odd(_ x: Row, _ y: Row) -> Row { SIMD32(lowHalf: x, highHalf: y).oddHalf }
            return RegisterBlock16(even(b.v0, b.v1), even(b.v2, b.v3), even(b.v4, b.v5), even(b.v6, b.v7),
                                   even(b.v8, b.v9), even(b.v10, b.v11), even(b.v12, b.v13), even(b.v14, b.v15),
                                   odd(b.v0, b.v1), odd(b.v2, b.v3), odd(b.v4, b.v5), odd(b.v6, b.v7),
                                   odd(b.v8, b.v9), odd(b.v10, b.v11), odd(b.v12, b.v13), odd(b.v14, b.v15))
        }
        return split(split(split(split(self))))
    }

    /// `body(i, row i)` for the 16 rows in order.
    @inlinable @inline(__always)
    public func forEach(_ body: (Int, Row) -> Void) {
        body(0, v0); body(1, v1); body(2, v2); body(3, v3); body(4, v4); body(5, v5); body(6, v6); body(7, v7)
        body(8, v8); body(9, v9); body(10, v10); body(11, v11); body(12, v12); body(13, v13); body(14, v14); body(15, v15)
    }
}

/// An 8×8 block of floats held as 8 vectors (rows): `RegisterBlock16` at the AVX2 tile's
/// width, so that its transposes stay in sixteen 256-bit registers.
public struct RegisterBlock8 {
    public typealias Row = SIMD8<Float>
    @usableFromInline var v0, v1, v2, v3, v4, v5, v6, v7: Row

    @inlinable @inline(__always)
    init(_ v0: Row, _ v1: Row, _ v2: Row, _ v3: Row, _ v4: Row, _ v5: Row, _ v6: Row, _ v7: Row) {
        (self.v0, self.v1, self.v2, self.v3, self.v4, self.v5, self.v6, self.v7) = (v0, v1, v2, v3, v4, v5, v6, v7)
    }

    /// Row i is the 8 floats at `src + i·ld` for i < `rows` (≤ 8); the rows beyond repeat row 0.
    @inlinable @inline(__always)
    public init(_ src: UnsafePointer<Float>, ld: Int, rows: Int) {
        @inline(__always) func row(_ i: Int) -> Row { UnsafeRawPointer(src + (i < rows ? i &* ld : 0)).loadUnaligned(as: Row.self) }
        self.init(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
    }

    /// The transpose: three rounds of splitting into even and odd positions, as `RegisterBlock16`.
    @inlinable @inline(__always)
    public func transposed() -> RegisterBlock8 {
        @inline(__always) func split(_ b: RegisterBlock8) -> RegisterBlock8 {
            @inline(__always) func even(_ x: Row, _ y: Row) -> Row { SIMD16(lowHalf: x, highHalf: y).evenHalf }
            @inline(__always) func odd(_ x: Row, _ y: Row) -> Row { SIMD16(lowHalf: x, highHalf: y).oddHalf }
            return RegisterBlock8(even(b.v0, b.v1), even(b.v2, b.v3), even(b.v4, b.v5), even(b.v6, b.v7),
                                  odd(b.v0, b.v1), odd(b.v2, b.v3), odd(b.v4, b.v5), odd(b.v6, b.v7))
        }
        return split(split(split(self)))
    }

    /// `body(i, row i)` for the 8 rows in order.
    @inlinable @inline(__always)
    public func forEach(_ body: (Int, Row) -> Void) {
        body(0, v0); body(1, v1); body(2, v2); body(3, v3); body(4, v4); body(5, v5); body(6, v6); body(7, v7)
    }
}
