"""A scratch PKI for TLS tests, made with the openssl command line for each
run: CAs, certificates signed by them (EC P-256 keys: fast), and the wrong
ones a test needs (expired, another CA's).

    pki = Pki()
    pki.ca("ca")
    pki.node("server", "ca")                  # IP:127.0.0.1, DNS:localhost
    pki.path("server.pem"), pki.path("server.key"), pki.path("ca.pem")
    pki.close()
"""
import os
import shutil
import subprocess
import tempfile


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


class Pki:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="herald-tls-")

    def path(self, name):
        return os.path.join(self.dir, name)

    def key(self, name):
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key",
                cwd=self.dir)

    def ca(self, name):
        self.key(name)
        openssl("req", "-x509", "-new", "-key", f"{name}.key", "-days", "2", "-subj",
                f"/CN={name}", "-out", f"{name}.pem", cwd=self.dir)

    def node(self, name, ca, san="IP:127.0.0.1,DNS:localhost", days=2, expired=False):
        """A certificate for both TLS roles signed by `ca`; `expired`: valid
        for one day that ended yesterday."""
        self.key(name)
        openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out",
                f"{name}.csr", cwd=self.dir)
        with open(self.path(f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n")
        if expired:
            # openssl x509 -req has no start date; `openssl ca` does.
            with open(self.path("index.txt"), "w"):
                pass
            with open(self.path("ca.cnf"), "w") as f:
                f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\n"
                        "serial=serial.txt\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n")
            with open(self.path("serial.txt"), "w") as f:
                f.write("01\n")
            openssl("ca", "-batch", "-config", "ca.cnf", "-cert", f"{ca}.pem", "-keyfile",
                    f"{ca}.key", "-in", f"{name}.csr", "-startdate", "20200101000000Z",
                    "-enddate", "20200102000000Z", "-extfile", f"{name}.ext", "-out",
                    f"{name}.pem", "-notext", cwd=self.dir)
            return
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", str(days), "-extfile", f"{name}.ext", "-out",
                f"{name}.pem", cwd=self.dir)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
