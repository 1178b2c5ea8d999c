//! LDAP / Active Directory sign-in through the ordinary `/login` form, against OpenLDAP's
//! `slapd` (Debian) started by each test on 127.0.0.1 with its own configuration and data:
//! user names, e-mails, a small Active-Directory-like schema (sAMAccountName,
//! userPrincipalName, memberOf) beside OpenLDAP groups, LDAPS with the company's own CA, a
//! directory that is down, and filter injection.

use crate::helpers::{PASSWORD, TestApp, location};
use crate::sso::{account, on_both};
use base64::Engine;
use reqwest::StatusCode;
use soporte::config::{Secret, ServeArgs};
use soporte::domain::user::Role;
use soporte::storage::Backend;
use std::time::Duration;

const BASE: &str = "dc=miempresa,dc=com";
const SERVICE_DN: &str = "cn=svc-soporte,dc=miempresa,dc=com";
const SERVICE_PASSWORD: &str = "clave-del-servicio";
const JUAN_PASSWORD: &str = "clave-de-juan-1";
const MARIA_PASSWORD: &str = "clave-de-maria-1";

pub struct Slapd {
    pub port: u16,
    pub tls_port: u16,
    /// Plain LDAP on 127.0.0.2: not "this machine" by soporte's rule, so StartTLS is required.
    pub starttls_port: u16,
    child: std::process::Child,
    pub dir: tempfile::TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn run(cmd: &str, args: &[&str], dir: &std::path::Path) {
    let out = std::process::Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Slapd {
    /// `None` (with the reason printed) only outside CI when slapd is not installed.
    pub fn start() -> Option<Slapd> {
        for binary in ["/usr/sbin/slapd", "/usr/sbin/slapadd", "/usr/bin/openssl"] {
            if !std::path::Path::new(binary).exists() {
                if std::env::var("CI").is_ok() {
                    panic!("{binary} is required in CI (apt-get install slapd ldap-utils openssl)");
                }
                eprintln!("SKIPPED ({binary} not installed, CI unset)");
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("data")).unwrap();
        // The company's own CA and the server's certificate (for LDAPS).
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=CA de prueba de Mi Empresa",
            ],
            d,
        );
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
            d,
        );
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
            d,
        );
        std::fs::write(
            d.join("ad.schema"),
            "attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )\n\
             attributetype ( 1.3.6.1.4.1.99999.1.2 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )\n\
             attributetype ( 1.3.6.1.4.1.99999.1.3 NAME 'memberOf' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )\n\
             objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'cuentaAD' SUP top AUXILIARY MAY ( sAMAccountName $ userPrincipalName $ memberOf ) )\n",
        )
        .unwrap();
        let p = d.display();
        std::fs::write(
            d.join("slapd.conf"),
            format!(
                "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\ninclude {p}/ad.schema\n\
                 pidfile {p}/slapd.pid\nargsfile {p}/slapd.args\n\
                 TLSCACertificateFile {p}/ca.pem\nTLSCertificateFile {p}/server.pem\nTLSCertificateKeyFile {p}/server.key\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
                 database mdb\nmaxsize 10485760\nsuffix \"{BASE}\"\nrootdn \"cn=admin,{BASE}\"\nrootpw secreto-raiz\n\
                 directory {p}/data\n\
                 access to attrs=userPassword by self read by anonymous auth by * none\n\
                 access to * by users read by * none\n"
            ),
        )
        .unwrap();
        let ldif = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Mi Empresa\ndc: miempresa\n\n\
             dn: ou=Personas,{BASE}\nobjectClass: organizationalUnit\nou: Personas\n\n\
             dn: ou=Grupos,{BASE}\nobjectClass: organizationalUnit\nou: Grupos\n\n\
             dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: svc-soporte\nuserPassword: {SERVICE_PASSWORD}\n\n\
             dn: uid=jperez,ou=Personas,{BASE}\nobjectClass: inetOrgPerson\nobjectClass: cuentaAD\nuid: jperez\n\
             sAMAccountName: jperez\nuserPrincipalName: jperez@miempresa.local\ncn:: {}\nsn:: {}\n\
             mail: juan.perez@miempresa.com\nuserPassword: {JUAN_PASSWORD}\n\
             memberOf: cn=TI-Soporte,ou=Grupos,{BASE}\n\n\
             dn: uid=mtorres,ou=Personas,{BASE}\nobjectClass: inetOrgPerson\nuid: mtorres\ncn: Maria Torres\n\
             displayName:: {}\nsn: Torres\nmail: maria.torres@miempresa.com\nuserPassword: {MARIA_PASSWORD}\n\n\
             dn: uid=ventas,ou=Personas,{BASE}\nobjectClass: inetOrgPerson\nuid: ventas\ncn: Vendedor\nsn: Uno\n\
             mail: ventas@miempresa.com\nuserPassword: clave-de-ventas\n\n\
             dn: cn=TI-Admins,ou=Grupos,{BASE}\nobjectClass: groupOfNames\ncn: TI-Admins\nmember: uid=mtorres,ou=Personas,{BASE}\n\n\
             dn: cn=TI-Soporte,ou=Grupos,{BASE}\nobjectClass: groupOfNames\ncn: TI-Soporte\nmember: cn=admin,{BASE}\n",
            b64("Juan Pérez"),
            b64("Pérez"),
            b64("María Torres"),
        );
        std::fs::write(d.join("data.ldif"), ldif).unwrap();
        let conf = d.join("slapd.conf");
        let conf = conf.to_str().unwrap();
        run("slapadd", &["-f", conf, "-l", "data.ldif"], d);
        // The ports are free when picked, but a test running beside this one may bind one
        // before slapd does; slapd then exits at once, and it is started again on others.
        for _ in 0..5 {
            let (port, tls_port, starttls_port) = (free_port(), free_port(), free_port());
            let mut child = std::process::Command::new("/usr/sbin/slapd")
                .args(["-f", conf, "-d", "0", "-h"])
                .arg(format!(
                    "ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/ ldap://127.0.0.2:{starttls_port}/"
                ))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut exited = false;
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    exited = true;
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_ok()
                    && std::net::TcpStream::connect(("127.0.0.2", starttls_port)).is_ok()
                {
                    return Some(Slapd {
                        port,
                        tls_port,
                        starttls_port,
                        child,
                        dir,
                    });
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if !exited {
                let _ = child.kill();
                let _ = child.wait();
                panic!("slapd did not listen within 10 s");
            }
        }
        panic!("slapd exited at start five times (ports taken?)");
    }

    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }
}

pub fn ldap_args(url: &str, auto_create: bool) -> ServeArgs {
    let mut a = ServeArgs::default();
    a.connect.ldap_url = Some(url.to_string());
    a.connect.ldap_bind_dn = Some(SERVICE_DN.into());
    a.connect.ldap_bind_password = Some(Secret::new(SERVICE_PASSWORD));
    a.connect.ldap_base_dn = BASE.into();
    a.connect.ldap_role_map =
        "TI-Admins=admin,TI-Derivadores=dispatcher,TI-Soporte=technician".into();
    a.connect.ldap_auto_create = auto_create;
    a
}

async fn sign_in(
    app: &TestApp,
    typed: &str,
    password: &str,
) -> (StatusCode, String, reqwest::Client) {
    let client = TestApp::client();
    let r = app.sign_in(&client, "/login", typed, password).await;
    let s = r.status();
    let to = location(&r);
    let body = r.text().await.unwrap();
    (s, if s.is_redirection() { to } else { body }, client)
}

async fn directory_people_sign_in_through_the_form_with_their_groups(backend: Backend) {
    let Some(slapd) = Slapd::start() else { return };
    let url = format!("ldap://127.0.0.1:{}", slapd.port);
    let Some(app) = TestApp::spawn_with(backend, ldap_args(&url, true)).await else {
        return;
    };
    let login = TestApp::client()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("Correo o usuario de la red"), "{login}");

    // By user name (sAMAccountName / uid): created as a technician (memberOf TI-Soporte).
    let (s, to, client) = sign_in(&app, "jperez", JUAN_PASSWORD).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(
        client.get(app.url("/")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let juan = app
        .services
        .user_by_email("juan.perez@miempresa.com")
        .await
        .unwrap();
    assert_eq!(
        (juan.role, juan.name.as_str()),
        (Role::Technician, "Juan Pérez")
    );
    // By UPN, and by e-mail: the same person.
    let (s, _, _) = sign_in(&app, "jperez@miempresa.local", JUAN_PASSWORD).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    // An OpenLDAP group (groupOfNames) makes María an administrator.
    let (s, _, client) = sign_in(&app, "maria.torres@miempresa.com", MARIA_PASSWORD).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let maria = app
        .services
        .user_by_email("maria.torres@miempresa.com")
        .await
        .unwrap();
    assert_eq!(
        (maria.role, maria.name.as_str()),
        (Role::Admin, "María Torres")
    );
    assert_eq!(
        client
            .get(app.url("/admin/technicians"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let identities = app
        .count("SELECT COUNT(*) FROM user_identities WHERE provider = 'ldap'")
        .await;
    assert_eq!(identities, 2);

    // Refusals: a wrong password, nobody, an injected filter, an empty password (which a
    // directory would take as an anonymous bind), someone in no mapped group.
    let users_before = app.count("SELECT COUNT(*) FROM users").await;
    for (typed, password) in [
        ("jperez", "no-es-la-clave"),
        ("nadie", JUAN_PASSWORD),
        ("*)(uid=*", JUAN_PASSWORD),
        ("jperez", ""),
    ] {
        let (s, page, _) = sign_in(&app, typed, password).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{typed}: {page}");
        assert!(page.contains("Correo o contraseña incorrectos"), "{page}");
    }
    let (s, page, _) = sign_in(&app, "ventas", "clave-de-ventas").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("ningún grupo autorizado"), "{page}");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users_before);
    // Failures count in the sign-in throttle.
    let failures = app
        .count("SELECT COUNT(*) FROM login_failures WHERE email = 'jperez'")
        .await;
    assert!(failures >= 2);
}
on_both!(directory_people_sign_in_through_the_form_with_their_groups);

async fn unknown_and_disabled_directory_people_stay_out(backend: Backend) {
    let Some(slapd) = Slapd::start() else { return };
    let url = format!("ldap://127.0.0.1:{}", slapd.port);
    let Some(app) = TestApp::spawn_with(backend, ldap_args(&url, false)).await else {
        return;
    };
    let (s, page, _) = sign_in(&app, "jperez", JUAN_PASSWORD).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        page.contains("No hay una cuenta de la mesa de ayuda"),
        "{page}"
    );
    let admin = account(&app, "jefe@miempresa.com", "Jefe", Role::Admin).await;
    let maria = account(
        &app,
        "maria.torres@miempresa.com",
        "María",
        Role::Technician,
    )
    .await;
    app.services
        .set_active(&admin, maria.id, false)
        .await
        .unwrap();
    let (s, page, _) = sign_in(&app, "mtorres", MARIA_PASSWORD).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("desactivada"), "{page}");
    // Without a service account: bind directly with a DN.
    let mut direct = ldap_args(&url, true);
    direct.connect.ldap_bind_dn = None;
    direct.connect.ldap_bind_password = None;
    let Some(app) = TestApp::spawn_with(backend, direct).await else {
        return;
    };
    let (s, to, _) = sign_in(
        &app,
        "uid=jperez,ou=Personas,dc=miempresa,dc=com",
        JUAN_PASSWORD,
    )
    .await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/"));
    assert!(
        app.services
            .user_by_email("juan.perez@miempresa.com")
            .await
            .is_ok()
    );
}
on_both!(unknown_and_disabled_directory_people_stay_out);

async fn a_directory_that_is_down_is_said_plainly_and_the_local_admin_still_signs_in(
    backend: Backend,
) {
    let closed = free_port();
    let Some(app) = TestApp::spawn_with(
        backend,
        ldap_args(&format!("ldap://127.0.0.1:{closed}"), true),
    )
    .await
    else {
        return;
    };
    let (s, page, _) = sign_in(&app, "jperez", JUAN_PASSWORD).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.contains("El directorio de la empresa (LDAP) no responde"),
        "{page}"
    );
    let local = account(
        &app,
        "admin.local@miempresa.com",
        "Admin Local",
        Role::Admin,
    )
    .await;
    let (s, to, _) = sign_in(&app, &local.email, PASSWORD).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/"));
}
on_both!(a_directory_that_is_down_is_said_plainly_and_the_local_admin_still_signs_in);

async fn ldaps_is_trusted_with_the_company_ca_only(backend: Backend) {
    let Some(slapd) = Slapd::start() else { return };
    let url = format!("ldaps://127.0.0.1:{}", slapd.tls_port);
    let mut args = ldap_args(&url, true);
    args.connect.ldap_ca_file = Some(slapd.ca_file());
    let Some(app) = TestApp::spawn_with(backend, args).await else {
        return;
    };
    let (s, to, _) = sign_in(&app, "jperez", JUAN_PASSWORD).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/"));
    // Without the CA the certificate is not trusted: the directory cannot be reached.
    let Some(app) = TestApp::spawn_with(backend, ldap_args(&url, true)).await else {
        return;
    };
    let (s, page, _) = sign_in(&app, "jperez", JUAN_PASSWORD).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{page}");
}
on_both!(ldaps_is_trusted_with_the_company_ca_only);

async fn starttls_is_required_off_this_machine_and_works_with_the_company_ca(backend: Backend) {
    let Some(slapd) = Slapd::start() else { return };
    // 127.0.0.2 is not 127.0.0.1: soporte insists on StartTLS, as for a real domain controller.
    let url = format!("ldap://127.0.0.2:{}", slapd.starttls_port);
    let mut args = ldap_args(&url, true);
    args.connect.ldap_ca_file = Some(slapd.ca_file());
    assert_eq!(
        soporte::service::ldap::LdapSettings::from_args(&args.connect)
            .unwrap()
            .unwrap()
            .security,
        soporte::service::ldap::Security::StartTls
    );
    let Some(app) = TestApp::spawn_with(backend, args).await else {
        return;
    };
    let (s, to, _) = sign_in(&app, "jperez", JUAN_PASSWORD).await;
    assert_eq!((s, to.as_str()), (StatusCode::SEE_OTHER, "/"));
    let Some(app) = TestApp::spawn_with(backend, ldap_args(&url, true)).await else {
        return;
    };
    let (s, _, _) = sign_in(&app, "jperez", JUAN_PASSWORD).await;
    assert_eq!(
        s,
        StatusCode::SERVICE_UNAVAILABLE,
        "an untrusted certificate is not used"
    );
}
on_both!(starttls_is_required_off_this_machine_and_works_with_the_company_ca);

#[test]
fn plain_ldap_is_only_for_this_machine() {
    let c = |url: &str| {
        let mut a = ldap_args(url, false);
        a.connect.ldap_base_dn = BASE.into();
        soporte::service::ldap::LdapSettings::from_args(&a.connect)
            .unwrap()
            .unwrap()
            .security
    };
    use soporte::service::ldap::Security;
    assert_eq!(c("ldap://dc.miempresa.com"), Security::StartTls);
    assert_eq!(c("ldaps://dc.miempresa.com"), Security::Tls);
    assert_eq!(c("ldap://127.0.0.1:389"), Security::Plain);
    let mut bad = ldap_args("ldap://dc", false);
    bad.connect.ldap_user_filter = "(uid=x)".into();
    assert!(soporte::service::ldap::LdapSettings::from_args(&bad.connect).is_err());
}
