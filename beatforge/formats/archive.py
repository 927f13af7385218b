"""Reading .osz / .qp archives safely: the code lives in :mod:`beatforge.archive`, below ``charts`` (a chart's
:class:`~beatforge.charts.chart.AudioSource` reads archive members too); this name stays for existing imports."""

from beatforge.archive import chart_members, checked_infos, find_member, member_names, read_member

__all__ = ["chart_members", "checked_infos", "find_member", "member_names", "read_member"]
