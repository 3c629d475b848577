//! Which methods each API path answers, read from the OpenAPI document the routes generate,
//! so a wrong method on a real path gets 405 with `Allow` instead of a 404 that would say
//! the path does not exist.

use std::sync::OnceLock;

use actix_web::dev::ResourceDef;
use actix_web::http::Method;

pub struct KnownRoutes(Vec<(ResourceDef, Vec<Method>)>);

impl KnownRoutes {
    pub fn get() -> &'static Self {
        static ROUTES: OnceLock<KnownRoutes> = OnceLock::new();
        ROUTES.get_or_init(|| Self::from_openapi(crate::http::openapi::document()))
    }

    fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods = Vec::new();
                for (method, operation) in [
                    (Method::GET, &item.get),
                    (Method::POST, &item.post),
                    (Method::PUT, &item.put),
                    (Method::PATCH, &item.patch),
                    (Method::DELETE, &item.delete),
                ] {
                    if operation.is_some() {
                        methods.push(method);
                    }
                }
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self(routes)
    }

    /// The methods `path` answers, if it is a known path at all.
    pub fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_parameters_and_their_methods_are_known() {
        let routes = KnownRoutes::get();
        assert_eq!(
            routes.allowed("/heartbeat"),
            Some([Method::POST].as_slice())
        );
        assert_eq!(
            routes.allowed("/api/v1/users/17"),
            Some([Method::GET, Method::PATCH].as_slice())
        );
        assert_eq!(
            routes.allowed("/api/v1/servers/9/license/revoke"),
            Some([Method::POST].as_slice())
        );
        assert_eq!(routes.allowed("/api/v1/nothing"), None);
    }
}
