"""Print the Student Specialization recovery figure of a sweep folder as a Markdown table.

Per (m, multi, p): the success rate of every teacher node (fraction of seeds in which some student
node has eval correlation > 0.95 with it) after EARLY epochs and at the end, summarized as the
mean over teacher nodes, the number of nodes recovered in at least half of the seeds, and the
rate of the first / middle / last node. Usage: python scripts/recovery_table.py DIR [EARLY]
"""

from __future__ import annotations

import sys

from relulab.results.query import connect


def main(root: str, early: int = 5) -> None:
    con = connect(root)
    rows = con.execute("""
        SELECT r.m, r.multi, r.p, c.epoch, c.teacher_node, c.rate, c.seeds
        FROM recovery c JOIN (SELECT DISTINCT cell, m, multi, p FROM results WHERE layer = 1)
             r USING (cell)
        WHERE c.layer = 1 AND (c.epoch = ? OR c.final)
        ORDER BY r.m, r.multi, r.p, c.epoch, c.teacher_node""", [early]).fetchall()
    table: dict[tuple, dict[int, list[float]]] = {}
    seeds: dict[tuple, int] = {}
    for m, multi, p, epoch, _node, rate, n in rows:
        table.setdefault((m, multi, p), {}).setdefault(epoch, []).append(rate)
        seeds[(m, multi, p)] = n
    print(f"| m | multi | p | seeds | mean rate @{early} / end | nodes ≥ 50 % @{early} / end "
          "| node 0, 9, 19 @end |")
    print("|---|---|---|---|---|---|---|")
    for (m, multi, p), by_epoch in table.items():
        first, last = by_epoch[min(by_epoch)], by_epoch[max(by_epoch)]
        mean = [sum(r) / len(r) for r in (first, last)]
        half = [sum(x >= 0.5 for x in r) for r in (first, last)]
        picks = ", ".join(f"{last[i]:.2f}" for i in (0, len(last) // 2 - 1, len(last) - 1))
        print(f"| {m} | {multi} | {p:g} | {seeds[(m, multi, p)]} | {mean[0]:.3f} / {mean[1]:.3f} "
              f"| {half[0]} / {half[1]} of {len(last)} | {picks} |")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5)
