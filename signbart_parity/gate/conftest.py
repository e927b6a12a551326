from signbart_parity.profiles import load_default_profile

load_default_profile()
