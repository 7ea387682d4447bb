"""A plain-Python Go reference for the tests (and the benchmark's baseline).

Written from the rules, independently of kcnn.go: the board is a list of lists, groups and
liberties come from flood fills, a move is tried by copying the board, ko is the rule "a
move may not recreate the position before the opponent's last move", and every feature
plane is computed by playing the move on a copy. Slow and obviously correct.
"""

EMPTY, BLACK, WHITE = 0, 1, 2
SETUP = None  # age of setup stones


class RefBoard:
    def __init__(self, size):
        self.size = size
        self.board = [[EMPTY] * size for _ in range(size)]
        self.placed = [[None] * size for _ in range(size)]   # move number, or SETUP
        self.to_play = BLACK
        self.move_number = 0
        self.previous = None   # board before the last move (for ko)

    def clone(self):
        new = RefBoard.__new__(RefBoard)
        new.size = self.size
        new.board = [row[:] for row in self.board]
        new.placed = [row[:] for row in self.placed]
        new.to_play = self.to_play
        new.move_number = self.move_number
        new.previous = self.previous
        return new

    @classmethod
    def from_rows(cls, rows, to_play=BLACK):
        """Rows of X (black), O (white) and '.', row 0 at the top; stones are setup stones."""
        rows = [r.replace(" ", "") for r in rows]
        b = cls(len(rows))
        for r, row in enumerate(rows):
            for c, ch in enumerate(row):
                b.board[r][c] = {".": EMPTY, "X": BLACK, "O": WHITE}[ch]
        b.to_play = to_play
        return b

    def setup(self, black=(), white=(), empty=()):
        for colour, points in ((BLACK, black), (WHITE, white), (EMPTY, empty)):
            for r, c in points:
                self.board[r][c] = colour
                self.placed[r][c] = None
        self.previous = None

    def neighbours(self, r, c):
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            if 0 <= r + dr < self.size and 0 <= c + dc < self.size:
                yield r + dr, c + dc

    def group(self, r, c):
        colour = self.board[r][c]
        seen, todo = {(r, c)}, [(r, c)]
        while todo:
            p = todo.pop()
            for q in self.neighbours(*p):
                if q not in seen and self.board[q[0]][q[1]] == colour:
                    seen.add(q)
                    todo.append(q)
        return seen

    def liberties(self, stones):
        return {q for p in stones for q in self.neighbours(*p)
                if self.board[q[0]][q[1]] == EMPTY}

    def _play_raw(self, r, c, colour):
        """Places the stone and removes captures; returns (captured, own group) or None
        when the move is a suicide. Does not check ko."""
        if self.board[r][c] != EMPTY:
            return None
        self.board[r][c] = colour
        captured = 0
        for q in self.neighbours(r, c):
            if self.board[q[0]][q[1]] == 3 - colour:
                g = self.group(*q)
                if not self.liberties(g):
                    captured += len(g)
                    for s in g:
                        self.board[s[0]][s[1]] = EMPTY
                        self.placed[s[0]][s[1]] = None
        own = self.group(r, c)
        if not self.liberties(own):
            return None
        return captured, own

    def try_move(self, move, colour=None):
        """The board after the move (a new RefBoard), or None if it is illegal."""
        colour = self.to_play if colour is None else colour
        new = self.clone()
        if move is None:
            new.previous = [row[:] for row in self.board]
            new.move_number += 1
            new.to_play = 3 - colour
            return new
        r, c = move
        before = [row[:] for row in self.board]
        if new._play_raw(r, c, colour) is None:
            return None
        if self.previous is not None and new.board == self.previous:
            return None   # ko: the position before the opponent's last move comes back
        new.placed[r][c] = self.move_number
        new.previous = before
        new.move_number += 1
        new.to_play = 3 - colour
        return new

    def legal(self, move, colour=None):
        return self.try_move(move, colour) is not None

    def play(self, move, colour=None):
        new = self.try_move(move, colour)
        if new is None:
            raise ValueError(f"illegal move {move}")
        self.__dict__.update(new.__dict__)


# --- features ------------------------------------------------------------------------------

def _one_hot(value):
    """Plane offset (0-7) of an integer feature >= 1."""
    return min(value, 8) - 1


def is_eye(b, r, c, colour):
    if any(b.board[q[0]][q[1]] != colour for q in b.neighbours(r, c)):
        return False
    diagonals = [(r + dr, c + dc) for dr in (-1, 1) for dc in (-1, 1)]
    on_board = [(x, y) for x, y in diagonals if 0 <= x < b.size and 0 <= y < b.size]
    bad = sum(1 for x, y in on_board if b.board[x][y] == 3 - colour)
    if len(on_board) < 4:
        bad += 1
    return bad < 2


class _Budget:
    def __init__(self, nodes):
        self.left = nodes - 1


def ladder_captured(b, stone, attacker_turn, depth, budget, max_depth):
    """Is the group at ``stone`` captured by a ladder? ``b`` has the attacker to move when
    ``attacker_turn`` (the group has two liberties), the defender otherwise (one liberty)."""
    group = b.group(*stone)
    defender = b.board[stone[0]][stone[1]]
    if attacker_turn:
        moves = sorted(b.liberties(group), key=lambda p: p[0] * b.size + p[1])
        for m in moves:
            child = b.try_move(m, 3 - defender)
            if child is None or len(child.liberties(child.group(*stone))) != 1:
                continue
            if _expand(child, stone, False, depth, budget, max_depth):
                return True
        return False
    (liberty,) = b.liberties(group)
    moves = [liberty]
    for s in group:
        for q in b.neighbours(*s):
            if b.board[q[0]][q[1]] == 3 - defender:
                libs = b.liberties(b.group(*q))
                if len(libs) == 1 and next(iter(libs)) not in moves:
                    moves.append(next(iter(libs)))
    for m in moves:
        child = b.try_move(m, defender)
        if child is None:
            continue
        n = len(child.liberties(child.group(*stone)))
        if n >= 3:
            return False
        if n == 2 and not _expand(child, stone, True, depth, budget, max_depth):
            return False
    return True


def _expand(child, stone, attacker_turn, depth, budget, max_depth):
    budget.left -= 1
    if budget.left < 0 or depth + 1 >= max_depth:
        return False
    return ladder_captured(child, stone, attacker_turn, depth + 1, budget, max_depth)


def features(b, planes=48, ladder_depth=120, ladder_nodes=5000):
    """The 48 (or 49) planes as a size x size x planes nested list of 0/1."""
    n = b.size
    me, opp = b.to_play, 3 - b.to_play
    out = [[[0] * planes for _ in range(n)] for _ in range(n)]
    for r in range(n):
        for c in range(n):
            f = out[r][c]
            f[3] = 1
            colour = b.board[r][c]
            if colour == EMPTY:
                f[2] = 1
            else:
                f[0 if colour == me else 1] = 1
                placed = b.placed[r][c]
                age = 8 if placed is None else b.move_number - placed
                f[4 + _one_hot(age)] = 1
                f[12 + _one_hot(len(b.liberties(b.group(r, c))))] = 1
            if planes > 48 and me == BLACK:
                f[48] = 1
            if colour != EMPTY:
                continue
            after = b.try_move((r, c), me)
            if after is None:
                continue
            captured = sum(1 for x in range(n) for y in range(n)
                           if b.board[x][y] == opp and after.board[x][y] == EMPTY)
            group = after.group(r, c)
            libs = len(after.liberties(group))
            if captured:
                f[20 + _one_hot(captured)] = 1
            if libs == 1:
                f[28 + _one_hot(len(group))] = 1
            f[36 + _one_hot(libs)] = 1
            if not is_eye(b, r, c, me):
                f[46] = 1
            for q in b.neighbours(r, c):
                if b.board[q[0]][q[1]] == opp and len(b.liberties(b.group(*q))) == 2 \
                        and after.board[q[0]][q[1]] == opp \
                        and len(after.liberties(after.group(*q))) == 1:
                    if ladder_captured(after, q, False, 0, _Budget(ladder_nodes),
                                       ladder_depth):
                        f[44] = 1
                        break
    # ladder escapes
    done = set()
    for r in range(n):
        for c in range(n):
            if b.board[r][c] != me or (r, c) in done:
                continue
            group = b.group(r, c)
            done |= group
            libs = b.liberties(group)
            if len(libs) != 1:
                continue
            moves = set(libs)
            for s in group:
                for q in b.neighbours(*s):
                    if b.board[q[0]][q[1]] == opp:
                        ql = b.liberties(b.group(*q))
                        if len(ql) == 1:
                            moves |= ql
            for m in moves:
                after = b.try_move(m, me)
                if after is None:
                    continue
                k = len(after.liberties(after.group(r, c)))
                if k >= 3 or (k == 2 and not ladder_captured(
                        after, (r, c), True, 0, _Budget(ladder_nodes), ladder_depth)):
                    out[m[0]][m[1]][45] = 1
    return out
