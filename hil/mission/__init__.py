"""``hil mission``: the whole system flown through a scripted scenario, judged at the end."""
