"""placeholder"""
def add_parser(*a): pass
