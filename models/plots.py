"""Pictures of fronts, for the terminal's `--plot` and for notebooks (matplotlib)."""

from __future__ import annotations

from itertools import combinations

from coopchain.models.front import Front

LABELS = {"F1": "F1 economic benefit (max)", "F2": "F2 coordination D (max)", "F3": "F3 footprint (min)", "T": "T development (max)"}


def plot_front(front: Front, path: str | None = None, picks=(), others: tuple[Front, ...] = ()):
    """Every pair of objectives as a scatter, the compromise picks marked; saved to `path` if given.

    `others` are drawn underneath in grey outlines (e.g. an NSGA-II front beside the exact one).
    Returns the matplotlib Figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")  # a file needs no screen
    import matplotlib.pyplot as plt

    pairs = list(combinations(range(len(front.objectives)), 2))
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.4), squeeze=False)
    matrix = front.matrix()
    colour_by = len(front.objectives) - 1
    for ax, (a, b) in zip(axes[0], pairs):
        for other in others:
            m = other.matrix()
            if len(m):
                ax.scatter(m[:, a], m[:, b], s=14, facecolors="none", edgecolors="0.6", label=other.method)
        c = matrix[:, colour_by] if len(front.objectives) == 3 else None
        sc = ax.scatter(matrix[:, a], matrix[:, b], c=c, s=22, cmap="viridis", label=front.method)
        for pick in picks:
            ax.scatter(matrix[pick.index, a], matrix[pick.index, b], marker="*", s=180, edgecolors="k", linewidths=0.8, label=pick.name)
        ax.set_xlabel(LABELS[front.objectives[a]])
        ax.set_ylabel(LABELS[front.objectives[b]])
        ax.grid(alpha=0.3)
        if c is not None and (a, b) == pairs[0]:
            fig.colorbar(sc, ax=ax, label=LABELS[front.objectives[colour_by]])
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle(f"{front.method}: {len(front.points)} efficient allocations")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
