// im2col and col2im for size-preserving filters (stride 1, output as large as the input): each
// im2col row is the input plane shifted by a constant, so it is one copy (or one add back) per
// row and image, plus a few zeroed edge entries. Used by Conv2D.swift. Shape letters as there.

/// Where entry (row, column) of an im2col matrix is stored: in SGEMM's B panels of `nr`
/// columns (the layout `sgemm(packedB:)` reads), or in plain rows.
struct ColumnsLayout {
    /// log2 of the panel width (plain rows: one panel wider than any matrix).
    let laneBits: Int
    let panelFloats: Int
    let rowStride: Int

    /// Panels of `nr` columns (a power of two) for a matrix of `rows` rows.
    static func panels(nr: Int, rows: Int) -> ColumnsLayout {
        precondition(nr > 0 && nr & (nr - 1) == 0, "ColumnsLayout: panel width \(nr) is not a power of two")
        return ColumnsLayout(laneBits: nr.trailingZeroBitCount, panelFloats: rows * nr, rowStride: nr)
    }
    /// Row-major with row stride `ld`.
    static func rows(ld: Int) -> ColumnsLayout { ColumnsLayout(laneBits: 48, panelFloats: 0, rowStride: ld) }

    var panelWidth: Int { 1 << laneBits }

    @inline(__always) func entry(_ base: UnsafeMutablePointer<Float>, _ row: Int, _ column: Int) -> UnsafeMutablePointer<Float> {
        let panel: Int = (column >> laneBits) &* panelFloats
        let lane: Int = column & (panelWidth &- 1)
        return base + (panel &+ row &* rowStride &+ lane)
    }
}

/// What row (c, r, s) of the im2col matrix of a size-preserving shape reads from plane c: column
/// j (of an image's P·Q) is plane[j + offset] for j in `copied` (never outside the plane),
/// except the `wrapped` columns of output rows `validRows`, whose source crossed a row edge;
/// every other entry is zero.
private struct ShiftedRow {
    let offset: Int, copied: Range<Int>, validRows: Range<Int>, wrapped: Range<Int>

    init(_ shape: Conv2DShape, r: Int, s: Int) {
        let (h, w, plane) = (shape.height, shape.width, shape.height * shape.width)
        let (dy, dx) = (r * shape.dilationH - shape.padH, s * shape.dilationW - shape.padW)
        let low = min(h, max(0, -dy))
        validRows = low..<max(low, min(h, h - dy))
        wrapped = dx == 0 ? 0..<0 : dx < 0 ? 0..<min(w, -dx) : max(0, w - dx)..<w
        offset = dy * w + dx
        let copyLow = min(plane, max(validRows.lowerBound * w, -offset))
        copied = copyLow..<max(copyLow, min(validRows.upperBound * w, plane - offset))
    }

    /// Calls `body(row, c, shift)` for every row (c, r, s) of the im2col matrix, in order.
    @inline(__always) static func forEachRow(of shape: Conv2DShape, _ body: (Int, Int, ShiftedRow) -> Void) {
        var row = 0
        for c in 0..<shape.inChannels {
            for r in 0..<shape.kernelHeight {
                for s in 0..<shape.kernelWidth {
                    body(row, c, ShiftedRow(shape, r: r, s: s))
                    row += 1
                }
            }
        }
    }

    /// Calls `body(j)` for each wrapped column j of an image.
    @inline(__always) func forEachWrapped(width w: Int, _ body: (Int) -> Void) {
        guard !wrapped.isEmpty else { return }
        for oh in validRows {
            for ow in wrapped { body(oh * w + ow) }
        }
    }
}

/// The im2col matrix of a group of images of a size-preserving shape (C·R·S rows, G·P·Q
/// columns) in `layout`; in panels, the last one is zero-padded. Row (c, r, s) of an image is
/// its plane c shifted by (r·dilation − pad)·W + s·dilation − pad, so it is copied as one run,
/// then the few entries that read across an edge are zeroed (see `ShiftedRow`): one copy per
/// row and image instead of one per output row.
func im2colShifted(_ shape: Conv2DShape, images: Range<Int>, input: UnsafePointer<Float>, layout: ColumnsLayout,
                   into matrix: UnsafeMutablePointer<Float>) {
    precondition(shape.preservesSize, "im2colShifted: \(shape) changes the plane size")
    let (w, plane, rows, nr) = (shape.width, shape.height * shape.width, shape.filterSize, layout.panelWidth)
    let columns = images.count * plane
    /// Columns `range` of `row` from `source` (which holds column range.lowerBound), or zeros
    /// when nil; panel by panel.
    @inline(__always) func write(_ row: Int, _ range: Range<Int>, from source: UnsafePointer<Float>?) {
        var column = range.lowerBound
        while column < range.upperBound {
            let count = min(nr - column & (nr - 1), range.upperBound - column)
            let to = layout.entry(matrix, row, column)
            if let source {
                copyFloats(source + (column - range.lowerBound), to: to, count: count)
            } else {
                to.update(repeating: 0, count: count)
            }
            column += count
        }
    }
    if layout.panelFloats > 0 && columns % nr != 0 {  // zero-pad the last panel
        for row in 0..<rows { layout.entry(matrix, row, columns).update(repeating: 0, count: nr - columns % nr) }
    }
    ShiftedRow.forEachRow(of: shape) { row, c, shift in
        for (g, n) in images.enumerated() {
            let first = g * plane
            let source = input + (n * shape.inChannels + c) * plane + shift.copied.lowerBound + shift.offset
            write(row, first..<(first + shift.copied.lowerBound), from: nil)
            write(row, (first + shift.copied.lowerBound)..<(first + shift.copied.upperBound), from: source)
            write(row, (first + shift.copied.upperBound)..<(first + plane), from: nil)
            shift.forEachWrapped(width: w) { j in layout.entry(matrix, row, first + j).pointee = 0 }
        }
    }
}

/// The adjoint of `im2colShifted` for plain rows: adds the matrix `cols` (C·R·S × G·P·Q) into
/// the images `images` of `gradInput`. The wrapped entries of `cols` are zeroed first (they
/// read nothing), so each row of each image goes back as one run.
func col2imShiftedAdd(_ shape: Conv2DShape, images: Range<Int>, cols: UnsafeMutablePointer<Float>,
                      into gradInput: UnsafeMutablePointer<Float>) {
    precondition(shape.preservesSize, "col2imShiftedAdd: \(shape) changes the plane size")
    let (w, plane) = (shape.width, shape.height * shape.width)
    let columns = images.count * plane
    ShiftedRow.forEachRow(of: shape) { row, c, shift in
        for (g, n) in images.enumerated() {
            let values = cols + row * columns + g * plane
            shift.forEachWrapped(width: w) { j in values[j] = 0 }
            let target = gradInput + (n * shape.inChannels + c) * plane + shift.offset
            accumulateVectors(shift.copied, values, values, into: target) { v, _ in v }
        }
    }
}
